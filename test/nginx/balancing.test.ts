// Sticky consistent-hash balancing and active health checks, in real nginx against real backends.
import { tempDir } from "../support/files";
import { request } from "../support/http";
import {
    Backend,
    BackendEcho,
    clientAddrs,
    loopbackView,
    mapClients,
    peerStatus,
    startBackend,
    startLb,
    StatusPage,
    stopAll,
} from "../support/nginx";
import { stop } from "../support/processes";
import { sleep, waitFor } from "../support/wait";

jest.setTimeout(60000);

const PORTS = { http: 19180, https: 19143, admin: 19181 };
const CLIENTS = clientAddrs(40, 100);

let dir: string;
let backends: Backend[];

beforeAll(async () => {
    dir = tempDir("balancing");
    backends = await Promise.all([
        startBackend("127.0.0.11", 19111),
        startBackend("127.0.0.12", 19112),
        startBackend("127.0.0.13", 19113),
    ]);
    await startLb(
        loopbackView(
            dir,
            backends.map((b) => ({ ip: b.ip, port: b.port })),
            PORTS,
        ),
    );
});

afterAll(stopAll);

const restart = async (i: number) => {
    backends[i] = await startBackend(backends[i].ip, backends[i].port);
};

test("each of 40 client addresses sticks to one backend, and the clients are spread over all three", async () => {
    const first = await mapClients(PORTS.https, CLIENTS);
    for (let round = 0; round < 3; round++) {
        expect(await mapClients(PORTS.https, CLIENTS)).toEqual(first);
    }
    const counts = new Map<string, number>();
    for (const b of first.values()) counts.set(b, (counts.get(b) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(backends.map((b) => b.name).sort());
    for (const n of counts.values()) expect(n).toBeLessThan(CLIENTS.length);
});

test("losing 1 of 3 backends moves only its clients, and they return when it comes back", async () => {
    const before = await mapClients(PORTS.https, CLIENTS);
    const victim = backends[1];
    await stop(victim.proc, "SIGKILL");
    await waitFor("victim down", async () => (await peerStatus(PORTS.admin, victim.name)).status === "down", 5000);

    const during = await mapClients(PORTS.https, CLIENTS);
    const movedTo = new Set<string>();
    for (const c of CLIENTS) {
        if (before.get(c) === victim.name) {
            expect(during.get(c)).not.toBe(victim.name);
            movedTo.add(during.get(c)!);
        } else {
            expect(during.get(c)).toBe(before.get(c));
        }
    }
    expect(movedTo.size).toBeGreaterThan(0);

    await restart(1);
    await waitFor("victim up", async () => (await peerStatus(PORTS.admin, victim.name)).status === "up", 5000);
    expect(await mapClients(PORTS.https, CLIENTS)).toEqual(before);
});

test("a killed backend under traffic is marked down by its first failed try, no client request fails, and it returns after rise checks", async () => {
    const victim = backends[2];
    let ok = 0;
    const failures: string[] = [];
    let running = true;
    // Steady rate: 10 clients, one request every 20 ms each (~500 req/s), fresh connections.
    const loops = clientAddrs(10, 200).map(async (c) => {
        while (running) {
            const t = Date.now();
            try {
                const r = await request({ url: `https://127.0.0.1:${PORTS.https}/steady`, localAddress: c });
                if (r.status === 200) ok++;
                else failures.push(`${c}: HTTP ${r.status}`);
            } catch (e) {
                failures.push(`${c}: ${e}`);
            }
            await sleep(Math.max(0, 20 - (Date.now() - t)));
        }
    });
    await sleep(500);
    const killedAt = Date.now();
    await stop(victim.proc, "SIGKILL");
    await waitFor("victim down", async () => (await peerStatus(PORTS.admin, victim.name)).status === "down", 5000, 10);
    const detectedMs = Date.now() - killedAt;
    // Traffic goes on after detection until over 100 requests went through (a busy machine is slower).
    await waitFor("more traffic", async () => ok > 100, 10000);
    running = false;
    await Promise.all(loops);
    console.log(
        `killed backend marked down (no more traffic) after ${detectedMs} ms; ${ok} requests ok, ${failures.length} failed`,
    );
    expect(failures).toEqual([]);
    // interval 300 ms x fall 2, plus one round of slack.
    expect(detectedMs).toBeLessThan(300 * 2 + 300 + 400);

    const restartedAt = Date.now();
    await restart(2);
    const s = await waitFor(
        "victim up",
        async () => {
            const r = await request<StatusPage>({ url: `http://127.0.0.1:${PORTS.admin}/check-status?format=json` });
            const row = r.json.servers.server.find((x) => x.name === victim.name);
            return row?.status === "up" ? row : undefined;
        },
        5000,
        10,
    );
    // Up only after `rise` (2) consecutive good checks, so at least one interval after the first one.
    expect(s.rise).toBeGreaterThanOrEqual(2);
    expect(Date.now() - restartedAt).toBeGreaterThanOrEqual(300 - 50);
});

test("every peer down: the balancer still tries (fails open) and answers when a peer is back", async () => {
    const all = backends.map((b) => b.name);
    await Promise.all(backends.map((b) => stop(b.proc, "SIGKILL")));
    await waitFor(
        "all down",
        async () => {
            const r = await request<StatusPage>({
                url: `http://127.0.0.1:${PORTS.admin}/check-status?format=json&status=down`,
            });
            return r.json.servers.total === 3;
        },
        5000,
    );
    expect((await request({ url: `https://127.0.0.1:${PORTS.https}/x` })).status).toBe(502);
    // A peer that is back but not yet marked up is reached at once because every peer is tried.
    await restart(0);
    const r = await request<BackendEcho>({ url: `https://127.0.0.1:${PORTS.https}/x` });
    expect(r.status).toBe(200);
    expect(r.json.backend).toBe(all[0]);
    await restart(1);
    await restart(2);
});
