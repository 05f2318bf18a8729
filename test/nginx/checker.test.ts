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
    await startLb(loopbackView(dir, [slow, fast].map((b) => ({ ip: b.ip, port: b.port })), PORTS, {
        healthCheck: { path: "/healthz", intervalMs: 200, rise: 2, fall: 2, timeoutMs: 1000, type: "http", host: "lb.test" },
        workerProcesses: 2,
    }));
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
    // The slow peer answers within the timeout, so it is up.
    const status = (await request({ url: `http://127.0.0.1:${PORTS.admin}/lb/peers` })).json.peers;
    expect(status.map((p: any) => p.status)).toEqual(["up", "up"]);
});
