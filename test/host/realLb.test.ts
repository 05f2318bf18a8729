// cutover.sh against the real LB: the production nginx + Lua templates (nginx/render.ts) run by Debian's
// nginx on loopback, two sample-app "hosts" on 127.0.0.8x, steady HTTPS load through the LB. Proves the
// script and the LB admin API agree (peer names, drain/undrain, "status":"up") and that a roll, and a
// rolled-back bad release, fail no request.
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { renderEnvFile } from "../../components/env";
import { FAKE_SERVICE, hostEnv, makeHostRoot } from "../support/fakeHost";
import { tempDir } from "../support/files";
import { hostTool } from "../support/hostTools";
import { loopbackView, peerStatus, startLb, stopAll } from "../support/nginx";
import { freePort } from "../support/ports";
import { run, RunResult } from "../support/processes";
import { buildBundle, Bundle } from "../support/sampleApp";
import { waitFor } from "../support/wait";

jest.setTimeout(120_000);

interface Host {
    ip: string;
    envText: string;
    peer: string;
    root: string;
    env: NodeJS.ProcessEnv;
}

let dir: string;
let appPort: number;
let ports: { http: number; https: number; admin: number };
let hosts: Host[];
let v1: Bundle;
let v2: Bundle;
let broken: Bundle;

function makeHost(i: number): Host {
    const ip = `127.0.0.${81 + i}`;
    const root = path.join(dir, `host-${i}`);
    const { appRoot, envRoot } = makeHostRoot(root);
    return {
        ip,
        // Each "host" binds its own loopback address (on a droplet the app listens on all interfaces).
        envText: renderEnvFile({
            PORT: String(appPort),
            HTTP_FORWARDED_COUNT: "1",
            STOP_GRACE_SECONDS: "1",
            BIND_IP: ip,
        }),
        peer: `${ip}:${appPort}`,
        root,
        env: hostEnv({ appRoot, envRoot, stateDir: root, lbPort: ports.admin, healthHost: ip }),
    };
}

async function stage(h: Host, b: Bundle): Promise<void> {
    fs.copyFileSync(b.path, path.join(h.root, "srv/meteor/incoming", `${b.sha256}.tgz`));
    const r = await run(hostTool("stage.sh"), [b.sha256], {
        env: h.env,
        stdin: h.envText,
        timeoutMs: 60_000,
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
}

function cutover(h: Host, b: Bundle, extra: string[] = []): Promise<RunResult> {
    return run(
        hostTool("cutover.sh"),
        [
            "--release",
            b.sha256,
            "--peer",
            h.peer,
            "--lb",
            "127.0.0.1",
            "--health-timeout",
            "10",
            "--lb-timeout",
            "10",
            ...extra,
        ],
        { env: h.env, stdin: h.envText, timeoutMs: 90_000 },
    );
}

/** Keep-alive HTTPS clients from several 127.0.0.x addresses until stopped; counts answers per release. */
function load(workers: number) {
    let on = true;
    const served = new Map<string, number>();
    const failures: string[] = [];
    const loops = [...Array(workers).keys()].map(async (w) => {
        const agent = new https.Agent({
            keepAlive: true,
            maxSockets: 1,
            localAddress: `127.0.0.${120 + w}`,
            rejectUnauthorized: false,
        });
        while (on) {
            try {
                const body = await new Promise<string>((resolve, reject) => {
                    const req = https.get(
                        `https://127.0.0.1:${ports.https}/info.json`,
                        { agent, headers: { Host: "lb.test" }, timeout: 5000 },
                        (res) => {
                            let b = "";
                            res.on("data", (c) => (b += c));
                            res.on("end", () =>
                                res.statusCode === 200 ? resolve(b) : reject(new Error(`HTTP ${res.statusCode}`)),
                            );
                        },
                    );
                    req.on("timeout", () => req.destroy(new Error("timeout")));
                    req.on("error", reject);
                });
                const release = JSON.parse(body).release as string;
                served.set(release, (served.get(release) ?? 0) + 1);
            } catch (e) {
                failures.push((e as Error).message);
            }
        }
        agent.destroy();
    });
    return {
        served,
        failures,
        stop: async () => {
            on = false;
            await Promise.all(loops);
        },
    };
}

/** Records the peer's admin-API state while `during` runs. */
async function watchPeer<T>(peer: string, during: () => Promise<T>): Promise<{ result: T; states: string[] }> {
    const states: string[] = [];
    let on = true;
    const poll = (async () => {
        while (on) {
            const s = await peerStatus(ports.admin, peer).catch(() => undefined);
            const label = s ? `${s.status}${s.draining ? "+draining" : ""}` : "?";
            if (states[states.length - 1] !== label) states.push(label);
            await new Promise((r) => setTimeout(r, 20));
        }
    })();
    try {
        return { result: await during(), states };
    } finally {
        on = false;
        await poll;
    }
}

beforeAll(async () => {
    dir = tempDir("host-real-lb");
    appPort = await freePort();
    ports = { http: await freePort(), https: await freePort(), admin: await freePort() };
    hosts = [makeHost(0), makeHost(1)];
    v1 = buildBundle(path.join(dir, "v1.tgz"), "v1");
    v2 = buildBundle(path.join(dir, "v2.tgz"), "v2");
    broken = buildBundle(path.join(dir, "broken.tgz"), "broken", "unhealthy");
    const view = loopbackView(
        dir,
        hosts.map((h) => ({ ip: h.ip, port: appPort })),
        ports,
        {
            healthCheck: {
                path: "/",
                intervalMs: 300,
                rise: 2,
                fall: 2,
                timeoutMs: 500,
                type: "http",
                host: "lb.test",
            },
        },
    );
    await startLb(view);
    for (const h of hosts) await stage(h, v1);
    for (const h of hosts) expect((await cutover(h, v1)).code).toBe(0);
});

afterAll(async () => {
    for (const h of hosts ?? [])
        await run(FAKE_SERVICE, ["stop"], { env: h.env, timeoutMs: 30_000 }).catch(() => undefined);
    await stopAll();
});

test("a roll through the real LB: each host drains and comes back up, no request fails", async () => {
    for (const h of hosts)
        expect(await peerStatus(ports.admin, h.peer)).toMatchObject({ name: h.peer, status: "up", draining: false });
    const traffic = load(6);
    await waitFor("traffic", async () => traffic.served.size > 0, 5000);
    await Promise.all(hosts.map((h) => stage(h, v2)));
    for (const h of hosts) {
        const { result, states } = await watchPeer(h.peer, () => cutover(h, v2));
        expect(result.stderr).toBe("");
        expect(result.code).toBe(0);
        expect(states).toContain("up+draining");
        expect(states[states.length - 1]).toBe("up");
    }
    await new Promise((r) => setTimeout(r, 500));
    await traffic.stop();
    expect(traffic.failures).toEqual([]);
    expect(traffic.served.get(v2.sha256)).toBeGreaterThan(0);
    for (const h of hosts) {
        expect(fs.readlinkSync(path.join(h.root, "srv/meteor/current"))).toBe(`releases/${v2.sha256}`);
        // The undrain told the LB what the host now runs.
        expect(await peerStatus(ports.admin, h.peer)).toEqual({
            name: h.peer,
            host: null,
            status: "up",
            draining: false,
            release: v2.sha256,
            node: process.version,
        });
    }
});

test("a bad release on the first host is rolled back and undrained, the LB keeps serving, no request fails", async () => {
    await stage(hosts[0], broken);
    const traffic = load(6);
    await waitFor("traffic", async () => traffic.served.size > 0, 5000);
    const { result, states } = await watchPeer(hosts[0].peer, () =>
        cutover(hosts[0], broken, ["--health-timeout", "3"]),
    );
    await new Promise((r) => setTimeout(r, 500));
    await traffic.stop();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("FAILED while health");
    expect(result.stderr).toContain(`rolling back to ${v2.sha256}`);
    expect(states).toContain("up+draining");
    // Back on v2, and the LB says so: the undrain after the rollback reported the release really live.
    expect(await peerStatus(ports.admin, hosts[0].peer)).toEqual({
        name: hosts[0].peer,
        host: null,
        status: "up",
        draining: false,
        release: v2.sha256,
        node: process.version,
    });
    expect(traffic.failures).toEqual([]);
    expect([...traffic.served.keys()]).toEqual([v2.sha256]);
});
