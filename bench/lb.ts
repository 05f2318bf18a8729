// npm run bench:lb [-- --rounds 6 --duration 3 --kills 9 --connections 50]   (defaults; ~2 minutes)
//
// The same three fast static backends (single-process nginx) behind (1) native nginx `ip_hash`, (2) our Lua balancer (the
// production templates, served over plain HTTP so TLS is not what is measured), (3) HAProxy 2.6 at its
// best for fast failure handling (bench/haproxy.ts). All three: one worker/thread, backend keepalive,
// X-Forwarded-For to the app, no access log.
//
// The machine is shared (2 cores, other jobs): every measurement runs on all three LBs at the same time,
// so whatever else runs weighs on each alike, and ratios are taken within one round or one kill.
// Throughput: `rounds` times, one wrk per LB at once; median requests/s, the median of each round's
// p50/p99, requests per CPU second of the LB's own processes (from /proc: what a dedicated LB core would
// serve, and the figure the machine's other load disturbs least), ratios as the median of the per-round
// ratios. Failures: `kills` times, a steady keep-alive load on each LB from 20 client addresses, SIGKILL of
// one backend, the time until each LB reports it down, failed requests and requests slower than 100 ms
// from the kill until 1 s after detection; then the backend restarts and the LBs must bring it back.
// Native nginx has no active checks: detection is null there.
// Targets (issue 15): ours >= 1.0 x HAProxy's requests per CPU second (and requests/s), detection <=
// HAProxy's (median of the kills), 0 failed requests. The last line of output is one JSON object.
import { ChildProcess, execFile, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { promisify } from "util";
import { renderNginx } from "../nginx/render";
import { cpuSeconds, tree } from "./proc";
import { tempDir } from "../test/support/files";
import { Backend, loopbackView, PeerState, startNginxConf, stopAll } from "../test/support/nginx";
import { portOpen } from "../test/support/ports";
import { stop } from "../test/support/processes";
import { sleep, waitFor } from "../test/support/wait";
import { benchHealthCheck, HAPROXY_BEST_BACKEND, HAPROXY_BEST_DEFAULTS } from "./haproxy";

const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
};
const ROUNDS = arg("rounds", 6);
const DURATION = arg("duration", 3);
const KILLS = arg("kills", 9);
const CONNECTIONS = arg("connections", 50);

const BACKENDS = [
    ["127.0.0.61", 29511],
    ["127.0.0.62", 29512],
    ["127.0.0.63", 29513],
] as const;
const PORT = { native: 29580, ours: 29581, haproxy: 29582 };
const OURS_ADMIN = 29589;
const HAPROXY_STATS = 29588;
type Kind = keyof typeof PORT;

const execFileP = promisify(execFile);
const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const round2 = (x: number) => Math.round(x * 100) / 100;

// The backends: one single-process nginx each answering every request with a fixed body, cheap enough
// that the balancers stay the bottleneck with all three measured at once; SIGKILL takes one down.
let staticDir = "";
const statics = new Set<ChildProcess>();
async function startStatic(ip: string, port: number): Promise<Backend> {
    const conf = path.join(staticDir, `static-${ip}-${port}.conf`);
    fs.writeFileSync(
        conf,
        `pid ${staticDir}/static-${ip}.pid;
error_log ${staticDir}/static-${ip}.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path ${staticDir}/tmp/body;
    keepalive_requests 100000;
    server {
        listen ${ip}:${port};
        location / { return 200 "hello from ${ip}:${port}\n"; }
    }
}
`,
    );
    const proc = spawn("/usr/sbin/nginx", ["-c", conf, "-g", "daemon off; master_process off;"], { stdio: "inherit" });
    statics.add(proc);
    await waitFor(`backend ${ip}:${port}`, () => portOpen(ip, port), 10000, 20);
    return { ip, port, name: `${ip}:${port}`, proc };
}

function nativeConf(dir: string): string {
    const servers = BACKENDS.map(([ip, port]) => `        server ${ip}:${port} max_fails=1 fail_timeout=10s;`).join(
        "\n",
    );
    return `worker_processes 1;
pid ${dir}/native.pid;
error_log ${dir}/native-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path ${dir}/tmp/body;
    proxy_temp_path ${dir}/tmp/proxy;
    map $http_upgrade $connection_upgrade { default upgrade; "" ""; }
    upstream app {
        ip_hash;
${servers}
        keepalive 256;
        keepalive_timeout 4s;
        keepalive_requests 100000;
    }
    server {
        listen 127.0.0.1:${PORT.native};
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
        }
    }
}
`;
}

/** HAProxy at its best (bench/haproxy.ts). `option forwardfor`: the app needs the client address
 * (Meteor's HTTP_FORWARDED_COUNT), as from the others. */
function haproxyConf(dir: string): string {
    const servers = BACKENDS.map(([ip, port], i) => `    server s${i} ${ip}:${port}`).join("\n");
    return `global
    nbthread 1
    maxconn 8000
    pidfile ${dir}/haproxy.pid
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 4s
    option http-keep-alive
    option forwardfor
${HAPROXY_BEST_DEFAULTS}
frontend app
    bind 127.0.0.1:${PORT.haproxy}
    default_backend app
backend app
    balance source
    hash-type consistent
    option httpchk GET /healthz
${HAPROXY_BEST_BACKEND}
${servers}
listen stats
    bind 127.0.0.1:${HAPROXY_STATS}
    stats enable
    stats uri /stats
`;
}

/** Our production templates, with the app served on a plain-HTTP loopback port and no access log. */
function oursConf(dir: string): string {
    const view = loopbackView(
        dir,
        BACKENDS.map(([ip, port]) => ({ ip, port })),
        { http: 29590, https: PORT.ours, admin: OURS_ADMIN },
        {
            healthCheck: benchHealthCheck("/healthz"),
            statusAllow: ["127.0.0.0/8"],
            workerProcesses: 1,
        },
    );
    const files = renderNginx(view);
    files["listen/https.conf"] = `listen 127.0.0.1:${PORT.ours};\n`;
    files["http/runtime.conf"] = files["http/runtime.conf"].replace(/^access_log .*$/m, "access_log off;");
    for (const [rel, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(view.paths.prefix, rel)), { recursive: true });
        fs.writeFileSync(path.join(view.paths.prefix, rel), text);
    }
    return path.join(view.paths.prefix, "nginx.conf");
}

function toMs(v: string): number {
    const m = /^([\d.]+)(us|ms|s|m)$/.exec(v.trim());
    if (!m) throw new Error(`cannot read wrk latency ${v}`);
    return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000, m: 60000 } as Record<string, number>)[m[2]];
}

interface Round {
    rps: number;
    p50: number;
    p99: number;
    errors: number;
    /** Requests per CPU second of the LB's processes. */
    perCpuS: number;
}

async function wrk(port: number, pids: number[]): Promise<Round> {
    const cpu0 = cpuSeconds(pids);
    const { stdout: out } = await execFileP(
        "wrk",
        ["-t1", `-c${CONNECTIONS}`, `-d${DURATION}s`, "--latency", `http://127.0.0.1:${port}/`],
        { encoding: "utf8", timeout: (DURATION + 30) * 1000 },
    );
    const cpu = cpuSeconds(pids) - cpu0;
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
    const total = Number(/(\d+) requests in/.exec(out)![1]);
    const p50 = toMs(/^\s+50%\s+(\S+)/m.exec(out)![1]);
    const p99 = toMs(/^\s+99%\s+(\S+)/m.exec(out)![1]);
    const e = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
    const s = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const errors = (e ? Number(e[1]) : 0) + (s ? s.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
    return { rps, p50, p99, errors, perCpuS: cpu > 0 ? total / cpu : NaN };
}

// Status polls on a kept-alive connection each, so a poll costs no TCP handshake on a busy machine.
const pollAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(url: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const req = http.get(url, { agent: pollAgent, timeout: 5000 }, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve(body));
        });
        req.on("timeout", () => req.destroy(new Error(`timeout: ${url}`)));
        req.on("error", reject);
    });
}

async function isDown(kind: Kind, b: Backend): Promise<boolean> {
    if (kind === "ours") {
        const peer = JSON.parse(await get(`http://127.0.0.1:${OURS_ADMIN}/lb/peers/${b.name}`)) as PeerState;
        return peer.status === "down";
    }
    const csv = await get(`http://127.0.0.1:${HAPROXY_STATS}/stats;csv`);
    const i = BACKENDS.findIndex(([ip, port]) => `${ip}:${port}` === b.name);
    const row = csv.split("\n").find((l) => l.startsWith(`app,s${i},`))!;
    return row.split(",")[17].startsWith("DOWN");
}

interface Sample {
    t: number;
    ms: number;
    ok: boolean;
}

/** Steady load: 20 keep-alive clients on their own 127.0.0.x addresses, one request each every 40 ms. */
function steadyLoad(port: number) {
    const samples: Sample[] = [];
    let running = true;
    const loops = Array.from({ length: 20 }, async (_, i) => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        while (running) {
            const t = Date.now();
            const ok = await new Promise<boolean>((resolve) => {
                const req = http.get(
                    { host: "127.0.0.1", port, path: "/", agent, localAddress: `127.0.1.${10 + i}`, timeout: 5000 },
                    (res) => {
                        res.resume();
                        res.on("end", () => resolve(res.statusCode === 200));
                    },
                );
                req.on("timeout", () => req.destroy());
                req.on("error", () => resolve(false));
            });
            samples.push({ t, ms: Date.now() - t, ok });
            await sleep(Math.max(0, 40 - (Date.now() - t)));
        }
        agent.destroy();
    });
    return {
        samples,
        stop: async () => {
            running = false;
            await Promise.all(loops);
        },
    };
}

const KINDS: Kind[] = ["native", "ours", "haproxy"];
const CHECKED: Kind[] = ["ours", "haproxy"];

/**
 * One kill seen by all three LBs at once, each under its own steady load: the same moment and the same
 * machine load for all, so per-kill differences are the LBs'. Detection time, failed and slow requests
 * from the kill until 1 s after detection (3 s for native nginx, which has no checks).
 */
async function killOnce(backends: Backend[], k: number) {
    const loads = Object.fromEntries(KINDS.map((kind) => [kind, steadyLoad(PORT[kind])])) as Record<
        Kind,
        ReturnType<typeof steadyLoad>
    >;
    await sleep(1000);
    const i = k % backends.length;
    const victim = backends[i];
    const killedAt = Date.now();
    await stop(victim.proc, "SIGKILL");
    const detectedAt: Record<Kind, number> = { native: killedAt + 3000, ours: 0, haproxy: 0 };
    await Promise.all(
        CHECKED.map(async (kind) => {
            await waitFor(`${kind} marks ${victim.name} down`, () => isDown(kind, victim), 10000, 2);
            detectedAt[kind] = Date.now();
        }),
    );
    await sleep(Math.max(1000, detectedAt.native - Date.now() + 1000));
    await Promise.all(KINDS.map((kind) => loads[kind].stop()));
    backends[i] = await startStatic(victim.ip, victim.port);
    await Promise.all(
        CHECKED.map((kind) =>
            waitFor(`${kind} marks ${victim.name} up`, async () => !(await isDown(kind, victim)), 15000, 50),
        ),
    );
    return Object.fromEntries(
        KINDS.map((kind) => {
            const window = loads[kind].samples.filter((s) => s.t >= killedAt - 100 && s.t <= detectedAt[kind] + 1000);
            return [
                kind,
                {
                    detectionMs: kind === "native" ? null : detectedAt[kind] - killedAt,
                    failed: window.filter((s) => !s.ok).length,
                    delayed: window.filter((s) => s.ok && s.ms > 100).length,
                    requests: loads[kind].samples.length,
                },
            ];
        }),
    ) as Record<Kind, { detectionMs: number | null; failed: number; delayed: number; requests: number }>;
}

async function main() {
    const dir = tempDir("bench-lb");
    fs.mkdirSync(path.join(dir, "tmp"), { recursive: true });
    staticDir = dir;
    const procs: Partial<Record<Kind, ChildProcess>> = {};
    let backends: Backend[] = [];
    try {
        backends = await Promise.all(BACKENDS.map(([ip, port]) => startStatic(ip, port)));
        fs.writeFileSync(path.join(dir, "native.conf"), nativeConf(dir));
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), haproxyConf(dir));
        const native = spawn("/usr/sbin/nginx", ["-c", path.join(dir, "native.conf"), "-g", "daemon off;"], {
            stdio: "inherit",
        });
        procs.native = native;
        procs.ours = await startNginxConf(oursConf(dir), OURS_ADMIN);
        procs.haproxy = spawn("/usr/sbin/haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], {
            stdio: ["ignore", "ignore", "inherit"],
        });
        for (const k of Object.keys(PORT) as Kind[])
            await waitFor(`${k} listening`, () => portOpen("127.0.0.1", PORT[k]), 10000);
        await waitFor("haproxy checks up", async () => !(await isDown("haproxy", backends[0])), 10000);

        const pids = Object.fromEntries(KINDS.map((k) => [k, tree(procs[k]!.pid!)])) as Record<Kind, number[]>;
        const runs: Record<Kind, Round[]> = { native: [], ours: [], haproxy: [] };
        // All three at once: whatever else runs on the machine weighs on each alike.
        const round = () => Promise.all(KINDS.map((k) => wrk(PORT[k], pids[k])));
        await round(); // warm-up, not counted
        for (let r = 0; r < ROUNDS; r++) {
            const res = await round();
            KINDS.forEach((k, j) => {
                runs[k].push(res[j]);
                console.log(
                    `round ${r + 1} ${k.padEnd(7)} ${res[j].rps.toFixed(0)} req/s  p50 ${res[j].p50.toFixed(2)} ms  p99 ${res[j].p99.toFixed(2)} ms  ${res[j].perCpuS.toFixed(0)} req/CPU-s  errors ${res[j].errors}`,
                );
            });
        }
        const kills: Record<Kind, Awaited<ReturnType<typeof killOnce>>[Kind][]> = {
            native: [],
            ours: [],
            haproxy: [],
        };
        for (let n = 0; n < KILLS; n++) {
            const res = await killOnce(backends, n);
            for (const k of KINDS) {
                kills[k].push(res[k]);
                console.log(
                    `kill ${n + 1}  ${k.padEnd(7)} detection ${res[k].detectionMs ?? "n/a"} ms  failed ${res[k].failed}  delayed>100ms ${res[k].delayed}  (of ${res[k].requests})`,
                );
            }
        }
        const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
        const summary = (k: Kind) => ({
            rps: Math.round(median(runs[k].map((x) => x.rps))),
            p50Ms: round2(median(runs[k].map((x) => x.p50))),
            p99Ms: round2(median(runs[k].map((x) => x.p99))),
            requestsPerCpuS: Math.round(median(runs[k].map((x) => x.perCpuS))),
            wrkErrors: sum(runs[k].map((x) => x.errors)),
            detectionMs: k === "native" ? null : Math.round(median(kills[k].map((x) => x.detectionMs!))),
            failed: sum(kills[k].map((x) => x.failed)),
            delayed: sum(kills[k].map((x) => x.delayed)),
            steadyRequests: sum(kills[k].map((x) => x.requests)),
        });
        // Median over rounds of the ratio within a round (runs seconds apart), steadier on a shared
        // machine than the ratio of medians.
        const ratio = (a: Kind, b: Kind, f: (x: Round) => number) =>
            round2(median(runs[a].map((x, i) => f(x) / f(runs[b][i]))));
        const ours = summary("ours");
        const haproxy = summary("haproxy");
        const ratios = {
            oursVsHaproxyRps: ratio("ours", "haproxy", (x) => x.rps),
            oursVsNativeRps: ratio("ours", "native", (x) => x.rps),
            oursVsHaproxyRequestsPerCpuS: ratio("ours", "haproxy", (x) => x.perCpuS),
            oursVsNativeRequestsPerCpuS: ratio("ours", "native", (x) => x.perCpuS),
        };
        const result = {
            bench: "lb",
            settings: {
                rounds: ROUNDS,
                durationS: DURATION,
                connections: CONNECTIONS,
                kills: KILLS,
                check: "http 750ms rise 2 fall 2 timeout 1000ms",
            },
            native_ip_hash: summary("native"),
            ours,
            haproxy,
            ratio: ratios,
            targets: {
                rpsVsHaproxy: { min: 1.0, value: ratios.oursVsHaproxyRps, pass: ratios.oursVsHaproxyRps >= 1.0 },
                requestsPerCpuSVsHaproxy: {
                    min: 1.0,
                    value: ratios.oursVsHaproxyRequestsPerCpuS,
                    pass: ratios.oursVsHaproxyRequestsPerCpuS >= 1.0,
                },
                detectionMs: {
                    max: haproxy.detectionMs,
                    value: ours.detectionMs,
                    pass: ours.detectionMs! <= haproxy.detectionMs!,
                },
                failed: { max: 0, value: ours.failed, pass: ours.failed === 0 },
            },
        };
        console.log(JSON.stringify(result));
    } finally {
        // Keep the LBs' error logs for a look at what failed.
        for (const f of ["native-error.log", "logs/error.log"]) {
            const src = path.join(dir, f);
            if (fs.existsSync(src))
                fs.copyFileSync(src, path.join(path.dirname(dir), `meteor-do-bench-lb-${f.replace("/", "-")}`));
        }
        for (const p of [...Object.values(procs), ...statics]) if (p) await stop(p);
        await stopAll();
    }
}

main().catch(async (e) => {
    console.error(e);
    await stopAll();
    process.exit(1);
});
