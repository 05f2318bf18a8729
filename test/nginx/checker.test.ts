// The checker's rounds never overlap, even when a probe takes longer than the interval (the seed's
// timeout 1000 > interval 750), and only one worker probes although nginx runs several.
import { loopbackView, request, sleep, startBackend, startLb, stopAll, tempDir } from "./harness";

jest.setTimeout(60000);

const PORTS = { http: 19780, https: 19743, admin: 19781 };

afterAll(stopAll);

test("slow health checks (700 ms at a 200 ms interval): one probe per peer in flight at a time, from one worker", async () => {
    const dir = tempDir("checker");
    const slow = await startBackend("127.0.0.71", 19711, "backend.js", { HEALTH_DELAY_MS: "700" });
    const fast = await startBackend("127.0.0.72", 19712);
    await startLb(
        loopbackView(
            dir,
            [slow, fast].map((b) => ({ ip: b.ip, port: b.port })),
            PORTS,
            {
                healthCheck: {
                    path: "/healthz",
                    intervalMs: 200,
                    rise: 2,
                    fall: 2,
                    timeoutMs: 1000,
                    type: "http",
                    host: "lb.test",
                },
                workerProcesses: 2,
            },
        ),
    );
    await sleep(3000);
    const stats = async (port: number, ip: string) => (await request({ url: `http://${ip}:${port}/probe-stats` })).json;
    const s = await stats(19711, "127.0.0.71");
    const f = await stats(19712, "127.0.0.72");
    expect(s.maxInFlight).toBe(1);
    expect(f.maxInFlight).toBe(1);
    // Rounds wait for the slow probe: ~3000 / 700 rounds, not 3000 / 200.
    expect(s.count).toBeGreaterThanOrEqual(3);
    expect(s.count).toBeLessThanOrEqual(6);
    expect(f.count).toBe(s.count);
    // http checks name the site: the configured Host header.
    expect([s.host, s.userAgent]).toEqual(["lb.test", "meteor-do-check"]);
    // The slow peer answers within the timeout, so it is up.
    const status = (await request({ url: `http://127.0.0.1:${PORTS.admin}/lb/peers` })).json.peers;
    expect(status.map((p: any) => p.status)).toEqual(["up", "up"]);
});

test("type tcp: a peer that accepts connections is up, one that refuses goes down after fall checks", async () => {
    const dir = tempDir("checker-tcp");
    const alive = await startBackend("127.0.0.73", 19713);
    const ports = { http: 19782, https: 19744, admin: 19783 };
    // Health answers 200 only on /healthz; a tcp check must not care about the path.
    await startLb(
        loopbackView(
            dir,
            [
                { ip: alive.ip, port: alive.port },
                { ip: "127.0.0.74", port: 19714 },
            ],
            ports,
            {
                healthCheck: {
                    path: "/does-not-matter",
                    intervalMs: 200,
                    rise: 2,
                    fall: 2,
                    timeoutMs: 500,
                    type: "tcp",
                    host: "lb.test",
                },
            },
        ),
    );
    const statusOf = async () =>
        (await request({ url: `http://127.0.0.1:${ports.admin}/check-status?format=json` })).json.servers.server;
    let rows: any[] = [];
    for (let i = 0; i < 50; i++) {
        rows = await statusOf();
        if (rows[1].status === "down" && rows[0].rise >= 2) break;
        await sleep(100);
    }
    expect(rows.map((r) => [r.name, r.status, r.type])).toEqual([
        ["127.0.0.73:19713", "up", "tcp"],
        ["127.0.0.74:19714", "down", "tcp"],
    ]);
    expect(rows[1].fall).toBeGreaterThanOrEqual(2);
});

test("type http: 2xx and 3xx are healthy, 5xx is not", async () => {
    const dir = tempDir("checker-http");
    const b = await startBackend("127.0.0.75", 19715);
    const statusOf = async (port: number) =>
        (await request({ url: `http://127.0.0.1:${port}/check-status?format=json` })).json.servers.server[0];
    const results: Record<string, string> = {};
    for (const [i, code] of ["204", "302", "503"].entries()) {
        const ports = { http: 19784 + 2 * i, https: 19745 + i, admin: 19785 + 2 * i };
        await startLb(
            loopbackView(`${dir}`, [{ ip: b.ip, port: b.port }], ports, {
                healthCheck: {
                    path: `/status/${code}`,
                    intervalMs: 200,
                    rise: 2,
                    fall: 2,
                    timeoutMs: 500,
                    type: "http",
                    host: "lb.test",
                },
                paths: {
                    ...loopbackView(dir, [], ports).paths,
                    prefix: `${dir}/tree-${code}`,
                    pid: `${dir}/logs/${code}.pid`,
                },
            }),
        );
        let row: any;
        for (let n = 0; n < 50; n++) {
            row = await statusOf(ports.admin);
            if (row.rise >= 2 || row.fall >= 2) break;
            await sleep(100);
        }
        results[code] = row.status;
    }
    expect(results).toEqual({ "204": "up", "302": "up", "503": "down" });
});
