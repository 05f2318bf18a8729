// The checker's rounds never overlap, even when a probe takes longer than the interval (a timeout above
// the interval is allowed), and only one worker probes although nginx runs several.
import { tempDir } from "../support/files";
import { request } from "../support/http";
import { loopbackView, PeerList, startBackend, startLb, statusRows, StatusRow, stopAll } from "../support/nginx";
import { freePort, lbPorts } from "../support/ports";
import { waitFor } from "../support/wait";

jest.setTimeout(60000);

afterAll(stopAll);

/** What backend.js reports about the health checks it received. */
interface ProbeStats {
    count: number;
    maxInFlight: number;
    arrivals: number[];
    host: string;
    userAgent: string;
}

const probeStats = async (ip: string, port: number) =>
    (await request<ProbeStats>({ url: `http://${ip}:${port}/probe-stats` })).json;
const gaps = (times: number[]) => times.slice(1).map((t, i) => t - times[i]);

/** The status rows once `done` holds (bounded), else the last rows seen, for the assertion to show. */
async function rowsWhen(adminPort: number, done: (rows: StatusRow[]) => boolean): Promise<StatusRow[]> {
    let last: StatusRow[] = [];
    const settled = async () => {
        last = await statusRows(adminPort);
        return done(last) && last;
    };
    return waitFor("the checker to settle", settled, 10000, 100).catch(() => last);
}

const check = { rise: 2, fall: 2, type: "http" as const, host: "lb.test" };

test("slow health checks (700 ms at a 200 ms interval): one probe per peer in flight at a time, from one worker", async () => {
    const dir = tempDir("checker");
    const ports = await lbPorts();
    const slow = await startBackend("127.0.0.71", await freePort(), "backend.js", { HEALTH_DELAY_MS: "700" });
    const fast = await startBackend("127.0.0.72", await freePort());
    await startLb(
        loopbackView(
            dir,
            [slow, fast].map((b) => ({ ip: b.ip, port: b.port })),
            ports,
            { healthCheck: { ...check, path: "/healthz", intervalMs: 200, timeoutMs: 1000 }, workerProcesses: 2 },
        ),
    );
    // Five rounds seen by the slow peer; at a 200 ms interval that would take 1 s, waiting for it 3.5 s.
    await waitFor("five rounds", async () => (await probeStats(slow.ip, slow.port)).count >= 5, 15000, 100);
    const s = await probeStats(slow.ip, slow.port);
    const f = await probeStats(fast.ip, fast.port);
    expect([s.maxInFlight, f.maxInFlight]).toEqual([1, 1]);
    // A round waits for its slowest probe: both peers see one probe per round, at least ~700 ms apart
    // (100 ms of slack for the probe's own travel; the interval alone would give 200 ms).
    expect(Math.abs(f.count - s.count)).toBeLessThanOrEqual(1);
    for (const gap of [...gaps(s.arrivals), ...gaps(f.arrivals)]) expect(gap).toBeGreaterThanOrEqual(600);
    // http checks name the site: the configured Host header.
    expect([s.host, s.userAgent]).toEqual(["lb.test", "meteor-do-check"]);
    // The slow peer answers within the timeout, so it is up.
    const peers = async () => (await request<PeerList>({ url: `http://127.0.0.1:${ports.admin}/lb/peers` })).json.peers;
    await waitFor("both peers up", async () => (await peers()).every((p) => p.status === "up"), 10000, 100).catch(
        () => undefined,
    );
    expect((await peers()).map((p) => p.status)).toEqual(["up", "up"]);
});

test("type tcp: a peer that accepts connections is up, one that refuses goes down after fall checks", async () => {
    const dir = tempDir("checker-tcp");
    const ports = await lbPorts();
    const alive = await startBackend("127.0.0.73", await freePort());
    const refusing = { ip: "127.0.0.74", port: await freePort() };
    // Health answers 200 only on /healthz; a tcp check must not care about the path.
    await startLb(
        loopbackView(dir, [{ ip: alive.ip, port: alive.port }, refusing], ports, {
            healthCheck: { ...check, path: "/does-not-matter", intervalMs: 200, timeoutMs: 500, type: "tcp" },
        }),
    );
    const rows = await rowsWhen(ports.admin, (r) => r[1].status === "down" && r[0].rise >= 2);
    expect(rows.map((r) => [r.name, r.status, r.type])).toEqual([
        [alive.name, "up", "tcp"],
        [`${refusing.ip}:${refusing.port}`, "down", "tcp"],
    ]);
    expect(rows[1].fall).toBeGreaterThanOrEqual(2);
});

test("type http: 2xx and 3xx are healthy, 5xx is not", async () => {
    const dir = tempDir("checker-http");
    const b = await startBackend("127.0.0.75", await freePort());
    const results: Record<string, string> = {};
    for (const code of ["204", "302", "503"]) {
        const ports = await lbPorts();
        await startLb(
            loopbackView(dir, [{ ip: b.ip, port: b.port }], ports, {
                healthCheck: { ...check, path: `/status/${code}`, intervalMs: 200, timeoutMs: 500 },
                paths: {
                    ...loopbackView(dir, [], ports).paths,
                    prefix: `${dir}/tree-${code}`,
                    pid: `${dir}/logs/${code}.pid`,
                },
            }),
        );
        const [row] = await rowsWhen(ports.admin, ([r]) => r.rise >= 2 || r.fall >= 2);
        results[code] = row.status;
    }
    expect(results).toEqual({ "204": "up", "302": "up", "503": "down" });
});
