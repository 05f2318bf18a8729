// lb-peer.sh against the real LB (production nginx + Lua templates on loopback, two backends named like
// droplets): a pause drains the named droplet's peer and closes the LB's WebSockets to it in batches across
// the grace period, leaving the other host's alone; a resume undrains it once the checker has it up; a
// droplet the LB does not list is nothing to do.
import WebSocket from "ws";
import { hostTool } from "../support/hostTools";
import { loopbackView, peerStatus, startBackend, startLb, stopAll } from "../support/nginx";
import { freePort, lbPorts } from "../support/ports";
import { run } from "../support/processes";
import { tempDir } from "../support/files";
import { waitFor } from "../support/wait";

jest.setTimeout(120_000);

let ports: { http: number; https: number; admin: number };
let appPort: number;
const hosts = [
    { ip: "127.0.0.91", host: "t-app-1" },
    { ip: "127.0.0.92", host: "t-app-2" },
];

beforeAll(async () => {
    ports = await lbPorts();
    appPort = await freePort();
    for (const h of hosts) await startBackend(h.ip, appPort);
    const dir = tempDir("lb-peer");
    await startLb(
        loopbackView(
            dir,
            hosts.map((h) => ({ ip: h.ip, port: appPort, host: h.host })),
            ports,
        ),
    );
    for (const h of hosts)
        await waitFor(
            `${h.host} up`,
            async () => (await peerStatus(ports.admin, `${h.ip}:${appPort}`)).status === "up",
            20_000,
        );
});
afterAll(() => stopAll());

const lbPeer = (...args: string[]) =>
    run("bash", [hostTool("lb-peer.sh"), ...args], {
        env: {
            ...process.env,
            LB_PEER_ADMIN: `http://127.0.0.1:${ports.admin}`,
            LB_PEER_SETTLE_SECONDS: "0",
            // A handful of connections would go in one batch at the production floor of 50 a second.
            METEOR_DO_SPREAD_MIN_RATE: "2",
        },
        timeoutMs: 60_000,
    });

interface Client {
    backend: string;
    closedAt?: number;
}

/** WebSockets through the LB from distinct client addresses, each knowing the backend it reached. */
async function connect(n: number): Promise<Client[]> {
    return Promise.all(
        Array.from(
            { length: n },
            (_, i) =>
                new Promise<Client>((resolve, reject) => {
                    const ws = new WebSocket(`wss://127.0.0.1:${ports.https}/websocket`, {
                        localAddress: `127.0.1.${10 + i}`,
                        rejectUnauthorized: false,
                    });
                    const c: Client = { backend: "" };
                    ws.once("message", (m) => {
                        c.backend = JSON.parse(String(m)).backend;
                        resolve(c);
                    });
                    ws.on("close", () => (c.closedAt = Date.now()));
                    ws.on("error", reject);
                }),
        ),
    );
}

test("pause drains the droplet and closes its WebSockets over the grace period; resume undrains it", async () => {
    const clients = await connect(16);
    const peer2 = `${hosts[1].ip}:${appPort}`;
    const on2 = clients.filter((c) => c.backend === peer2);
    const on1 = clients.filter((c) => c.backend !== peer2);
    expect(on2.length).toBeGreaterThan(1);
    expect(on1.length).toBeGreaterThan(0);

    const paused = await lbPeer(
        "pause",
        "--host",
        "t-app-2",
        "--port",
        String(appPort),
        "--grace",
        "2",
        "--why",
        "size=s-2vcpu-4gb",
    );
    expect(paused.stderr).toBe("");
    expect(paused.code).toBe(0);
    expect(paused.stdout).toContain(`drained t-app-2 (${peer2}) for size=s-2vcpu-4gb`);
    expect((await peerStatus(ports.admin, peer2)).draining).toBe(true);
    await waitFor("the WebSockets on t-app-2 closed", async () => on2.every((c) => c.closedAt !== undefined), 5000);
    // Batches across the grace period (2 s: one per 0.2 s, 11 at most), not all at once: the LB's
    // WebSockets to t-app-2, and its checker's connection when one was open.
    const m = /closed (\d+) connection\(s\) to \S+ in (\d+) batch\(es\) of (\d+)-(\d+)/.exec(paused.stdout);
    expect(m).not.toBeNull();
    const [closed, batches, least, most] = m!.slice(1).map(Number);
    expect(closed).toBeGreaterThanOrEqual(on2.length);
    expect(closed).toBeLessThanOrEqual(on2.length + 1);
    expect(batches).toBe(Math.min(closed, 11));
    expect(most - least).toBeLessThanOrEqual(1);
    expect(on1.every((c) => c.closedAt === undefined)).toBe(true);

    // The checker's probes still reach the drained host: resume finds it up and undrains it.
    const resumed = await lbPeer("resume", "--host", "t-app-2", "--port", String(appPort), "--timeout", "20");
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(`undrained t-app-2 (${peer2}), up`);
    expect(await peerStatus(ports.admin, peer2)).toMatchObject({ status: "up", draining: false });
});

test("a droplet the LB does not list: nothing to do; bad arguments are refused by name", async () => {
    const r = await lbPeer("pause", "--host", "t-app-9", "--port", String(appPort), "--grace", "1");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("t-app-9 is not a peer of this LB: nothing to pause");
    const bad = await lbPeer("pause", "--host", "T_APP", "--port", String(appPort));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--host must be a droplet name");
});
