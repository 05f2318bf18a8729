// npm run bench:lb [-- --rounds 6 --duration 3 --kills 5 --connections 50]   (defaults; ~3 minutes)
//
// The same three fast static backends behind (1) native nginx `ip_hash`, (2) our Lua balancer (the
// production templates, served over plain HTTP so TLS is not what is measured), (3) HAProxy from Debian as
// its best equivalent (balance source, hash-type consistent, httpchk inter 750 rise 2 fall 2, retries,
// redispatch, http-reuse always). All three: one worker/thread, backend keepalive, no access log.
//
// Throughput: wrk, alternating rounds (A B C, B C A, ...) so drift hits all alike; median requests/s,
// the median of each round's p50/p99, and ratios as the median of the per-round ratios. Failures: a steady client load (keep-alive clients from many
// 127.0.0.x addresses), then `kills` times: SIGKILL a backend, measure the time until the LB reports it
// down, count failed requests and requests slower than 100 ms from the kill until 1 s after detection,
// restart it and wait until it is back. Native nginx has no active checks: detection is null there.
// The last line of output is one JSON object.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { renderNginx } from "../nginx/render";
import { tempDir } from "../test/support/files";
import { request } from "../test/support/http";
import { Backend, loopbackView, PeerState, startBackend, startNginxConf, stopAll } from "../test/support/nginx";
import { portOpen } from "../test/support/ports";
import { stop } from "../test/support/processes";
import { sleep, waitFor } from "../test/support/wait";

const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
};
const ROUNDS = arg("rounds", 6);
const DURATION = arg("duration", 3);
const KILLS = arg("kills", 5);
const CONNECTIONS = arg("connections", 50);

const BACKENDS = [
    ["127.0.0.61", 19511],
    ["127.0.0.62", 19512],
    ["127.0.0.63", 19513],
] as const;
const PORT = { native: 19580, ours: 19581, haproxy: 19582 };
const OURS_ADMIN = 19589;
const HAPROXY_STATS = 19588;
type Kind = keyof typeof PORT;

const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
};
const round2 = (x: number) => Math.round(x * 100) / 100;

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

function haproxyConf(dir: string): string {
    const servers = BACKENDS.map(
        ([ip, port], i) => `    server s${i} ${ip}:${port} check inter 750 rise 2 fall 2`,
    ).join("\n");
    return `global
    nbthread 1
    maxconn 8000
    pidfile ${dir}/haproxy.pid
defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    retries 3
    option redispatch
    option http-keep-alive
frontend app
    bind 127.0.0.1:${PORT.haproxy}
    default_backend app
backend app
    balance source
    hash-type consistent
    option httpchk GET /healthz
    http-reuse always
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
        { http: 19590, https: PORT.ours, admin: OURS_ADMIN },
        {
            healthCheck: {
                path: "/healthz",
                intervalMs: 750,
                rise: 2,
                fall: 2,
                timeoutMs: 1000,
                type: "http",
                host: "lb.test",
            },
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

function wrk(port: number): { rps: number; p50: number; p99: number; errors: number } {
    const out = execFileSync(
        "wrk",
        ["-t1", `-c${CONNECTIONS}`, `-d${DURATION}s`, "--latency", `http://127.0.0.1:${port}/`],
        { encoding: "utf8", timeout: (DURATION + 30) * 1000 },
    );
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
    const p50 = toMs(/^\s+50%\s+(\S+)/m.exec(out)![1]);
    const p99 = toMs(/^\s+99%\s+(\S+)/m.exec(out)![1]);
    const e = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
    const s = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const errors = (e ? Number(e[1]) : 0) + (s ? s.slice(1).reduce((a, b) => a + Number(b), 0) : 0);
    return { rps, p50, p99, errors };
}

async function isDown(kind: Kind, b: Backend): Promise<boolean> {
    if (kind === "ours") {
        const r = await request<PeerState>({ url: `http://127.0.0.1:${OURS_ADMIN}/lb/peers/${b.name}` });
        return r.json.status === "down";
    }
    const r = await request({ url: `http://127.0.0.1:${HAPROXY_STATS}/stats;csv` });
    const i = BACKENDS.findIndex(([ip, port]) => `${ip}:${port}` === b.name);
    const row = r.body.split("\n").find((l) => l.startsWith(`app,s${i},`))!;
    return row.split(",")[17].startsWith("DOWN");
}

interface Sample {
    t: number;
    ms: number;
    ok: boolean;
}

/** Steady load: 20 keep-alive clients on their own 127.0.0.x addresses, one request each every 25 ms. */
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
            await sleep(Math.max(0, 25 - (Date.now() - t)));
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

async function kills(kind: Kind, backends: Backend[]) {
    const load = steadyLoad(PORT[kind]);
    const detections: number[] = [];
    let failed = 0;
    let delayed = 0;
    await sleep(1000);
    for (let k = 0; k < KILLS; k++) {
        const i = k % backends.length;
        const victim = backends[i];
        const killedAt = Date.now();
        await stop(victim.proc, "SIGKILL");
        let detectedAt = Date.now() + 3000;
        if (kind !== "native") {
            await waitFor(`${kind} marks ${victim.name} down`, () => isDown(kind, victim), 10000, 10);
            detectedAt = Date.now();
            detections.push(detectedAt - killedAt);
        } else {
            await sleep(3000);
        }
        await sleep(1000);
        const window = load.samples.filter((s) => s.t >= killedAt - 100 && s.t <= detectedAt + 1000);
        failed += window.filter((s) => !s.ok).length;
        delayed += window.filter((s) => s.ok && s.ms > 100).length;
        backends[i] = await startBackend(victim.ip, victim.port, "static-backend.js");
        if (kind !== "native")
            await waitFor(`${kind} marks ${victim.name} up`, async () => !(await isDown(kind, victim)), 15000, 50);
        else await sleep(500);
        await sleep(500);
    }
    await load.stop();
    return {
        detectionMs: detections.length ? Math.round(median(detections)) : null,
        failed,
        delayed,
        requests: load.samples.length,
    };
}

async function main() {
    const dir = tempDir("bench-lb");
    fs.mkdirSync(path.join(dir, "tmp"), { recursive: true });
    const procs: Partial<Record<Kind, ChildProcess>> = {};
    let backends: Backend[] = [];
    try {
        backends = await Promise.all(BACKENDS.map(([ip, port]) => startBackend(ip, port, "static-backend.js")));
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

        const kinds: Kind[] = ["native", "ours", "haproxy"];
        const runs: Record<Kind, ReturnType<typeof wrk>[]> = { native: [], ours: [], haproxy: [] };
        for (const k of kinds) wrk(PORT[k]); // warm-up, not counted
        for (let r = 0; r < ROUNDS; r++) {
            for (let j = 0; j < kinds.length; j++) {
                const k = kinds[(r + j) % kinds.length];
                const res = wrk(PORT[k]);
                runs[k].push(res);
                console.log(
                    `round ${r + 1} ${k.padEnd(7)} ${res.rps.toFixed(0)} req/s  p50 ${res.p50.toFixed(2)} ms  p99 ${res.p99.toFixed(2)} ms  errors ${res.errors}`,
                );
            }
        }
        const failures: Record<string, Awaited<ReturnType<typeof kills>>> = {};
        for (const k of kinds) {
            failures[k] = await kills(k, backends);
            console.log(
                `kills   ${k.padEnd(7)} detection ${failures[k].detectionMs ?? "n/a"} ms  failed ${failures[k].failed}  delayed>100ms ${failures[k].delayed}  (of ${failures[k].requests})`,
            );
        }
        const summary = (k: Kind) => ({
            rps: Math.round(median(runs[k].map((x) => x.rps))),
            p50Ms: round2(median(runs[k].map((x) => x.p50))),
            p99Ms: round2(median(runs[k].map((x) => x.p99))),
            wrkErrors: runs[k].reduce((a, x) => a + x.errors, 0),
            detectionMs: failures[k].detectionMs,
            failed: failures[k].failed,
            delayed: failures[k].delayed,
        });
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
            ours: summary("ours"),
            haproxy: summary("haproxy"),
            // Median over rounds of the ratio within a round (runs seconds apart), steadier on a shared
            // machine than the ratio of medians.
            ratio: {
                oursVsHaproxyRps: round2(median(runs.ours.map((x, i) => x.rps / runs.haproxy[i].rps))),
                oursVsNativeRps: round2(median(runs.ours.map((x, i) => x.rps / runs.native[i].rps))),
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
        for (const p of Object.values(procs)) if (p) await stop(p);
        await stopAll();
    }
}

main().catch(async (e) => {
    console.error(e);
    await stopAll();
    process.exit(1);
});
