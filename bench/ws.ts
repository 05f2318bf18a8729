// npm run bench:ws [-- --steps 1000,3000,5000 --workers 4 --ping-window 5 --out bench/results]   (~5 minutes)
// npm run bench:ws -- --storm 3000 [--grace 10]: a reconnect storm instead, see STORM below (ws-storm.json).
//
// K concurrent DDP clients over WebSockets (connect, subscribe to sample.items, then one ping each spread
// over a window) through a load balancer to 3 sample-app backends, for ours (the production templates:
// one worker, worker_rlimit_nofile and worker_connections at this machine's 20000 hard limit) and HAProxy
// 2.6 at its best (bench/lb.ts's settings, maxconn 9900: 2 descriptors each), each over TLS (wss) and without, at each K. A fresh LB per
// (K, mode, LB), in alternating order; the clients run in `workers` child processes (a process holds only
// so many sockets), from 250 loopback addresses so that source-address stickiness spreads them.
// Per phase: LB memory per connection (RSS delta of the LB's processes / K), LB CPU seconds per 1000
// connections established (from /proc, connect to all subscribed), time until all K are subscribed, p99
// of a DDP ping round trip with all K connected. Targets (issue 15), over TLS at the largest K: memory
// per connection <= 1.3 x HAProxy's, CPU per connection <= 1.2 x. Writes ws.json and ws.svg (the chart)
// to `out`; the last line of output is the same JSON object.
import { ChildProcess, execFileSync, fork, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import WebSocket from "ws";
import { renderNginx } from "../nginx/render";
import { selfSignedCert } from "../test/support/certs";
import { tempDir } from "../test/support/files";
import { hostTool } from "../test/support/hostTools";
import { request } from "../test/support/http";
import { loopbackView, startNginxConf, stopAll } from "../test/support/nginx";
import { portOpen } from "../test/support/ports";
import { stop, track } from "../test/support/processes";
import { buildBundle, startApp, unpack } from "../test/support/sampleApp";
import { sleep, waitFor } from "../test/support/wait";
import { cpuSeconds, rssKiB, tree } from "./proc";
import { wsChart } from "./wsChart";
import { benchHealthCheck, HAPROXY_BEST_BACKEND, HAPROXY_BEST_DEFAULTS } from "./haproxy";

const argOf = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
};

// ---------------------------------------------------------------------------------------------------
// Client worker: holds its share of the K connections and reports to the parent over IPC.

type ToWorker =
    | { type: "open"; url: string; count: number; addrs: string[]; concurrency: number }
    | { type: "ping"; windowMs: number }
    | { type: "storm" }
    | { type: "storm-report" }
    | { type: "close" };
export type FromWorker =
    | { type: "subscribed"; ok: number; failed: number }
    | { type: "rtts"; rtts: number[]; lost: number }
    | { type: "closed" }
    | { type: "storm-report"; lost: number; reopened: number[]; resubscribed: number[]; failed: number }
    | { type: "ready" };

function clientWorker() {
    process.send!({ type: "ready" });
    let sockets: WebSocket[] = [];
    const pending = new Map<WebSocket, (rtt: number) => void>();
    const send = (m: FromWorker) => process.send!(m);
    // Storm mode: a subscribed client whose connection closes reconnects at once, as Meteor's does, and
    // notes when its new connection opened (at a surviving host) and when it was subscribed again.
    let storm = false;
    const lost = { count: 0 };
    const reopened: number[] = [];
    const resubscribed: number[] = [];
    let stormFailed = 0;
    const reconnect = (url: string, localAddress: string) => {
        lost.count++;
        void open(url, localAddress, () => reopened.push(Date.now())).then((ok) =>
            ok ? resubscribed.push(Date.now()) : stormFailed++,
        );
    };

    /** One DDP client: resolves true once its subscription is ready. */
    const open = (url: string, localAddress: string, opened?: () => void) =>
        new Promise<boolean>((resolve) => {
            const ws = new WebSocket(url, { localAddress, rejectUnauthorized: false, perMessageDeflate: false });
            const timer = setTimeout(() => done(false), 60000);
            const done = (ok: boolean) => {
                clearTimeout(timer);
                if (!ok) ws.terminate();
                resolve(ok);
            };
            ws.on("open", () => {
                opened?.();
                ws.send(JSON.stringify({ msg: "connect", version: "1", support: ["1"] }));
            });
            ws.on("message", (data) => {
                const m = JSON.parse(data.toString());
                if (m.msg === "connected") ws.send(JSON.stringify({ msg: "sub", id: "s1", name: "sample.items" }));
                else if (m.msg === "ready") {
                    sockets.push(ws);
                    ws.once("close", () => {
                        if (!storm) return;
                        sockets = sockets.filter((s) => s !== ws);
                        reconnect(url, localAddress);
                    });
                    done(true);
                } else if (m.msg === "pong") pending.get(ws)?.(0);
            });
            ws.on("error", () => done(false));
        });

    process.on("message", async (m: ToWorker) => {
        if (m.type === "open") {
            let ok = 0;
            let failed = 0;
            let next = 0;
            const lane = async () => {
                while (next < m.count) {
                    const i = next++;
                    if (await open(m.url, m.addrs[i % m.addrs.length])) ok++;
                    else failed++;
                }
            };
            await Promise.all(Array.from({ length: m.concurrency }, lane));
            send({ type: "subscribed", ok, failed });
        } else if (m.type === "ping") {
            const rtts: number[] = [];
            let lost = 0;
            await Promise.all(
                sockets.map(async (ws, i) => {
                    await sleep(Math.random() * m.windowMs);
                    const t = process.hrtime.bigint();
                    const got = await new Promise<boolean>((resolve) => {
                        const timer = setTimeout(() => resolve(false), 10000);
                        pending.set(ws, () => {
                            clearTimeout(timer);
                            resolve(true);
                        });
                        ws.send(JSON.stringify({ msg: "ping", id: `p${i}` }));
                    });
                    pending.delete(ws);
                    if (got) rtts.push(Number(process.hrtime.bigint() - t) / 1e6);
                    else lost++;
                }),
            );
            send({ type: "rtts", rtts, lost });
        } else if (m.type === "storm") {
            storm = true;
            lost.count = stormFailed = 0;
            reopened.length = resubscribed.length = 0;
            send({ type: "closed" });
        } else if (m.type === "storm-report") {
            send({ type: "storm-report", lost: lost.count, reopened, resubscribed, failed: stormFailed });
        } else if (m.type === "close") {
            storm = false;
            for (const ws of sockets) ws.terminate();
            sockets = [];
            send({ type: "closed" });
        }
    });
}

// ---------------------------------------------------------------------------------------------------
// The bench.

const STEPS = (argOf("steps") ?? "1000,3000,5000").split(",").map(Number);
const WORKERS = Number(argOf("workers") ?? 4);
const PING_WINDOW_MS = Number(argOf("ping-window") ?? 5) * 1000;
const OUT = path.resolve(argOf("out") ?? path.join(__dirname, "results"));
// --storm K: instead of the steps, K plain clients, then the host holding the most leaves gracefully (drain,
// then SIGTERM to an app that exits at once, as Meteor does), without and with conn-lib.sh's spreading
// over --grace seconds first, as cutover.sh and retire.sh do.
const STORM = argOf("storm") === undefined ? undefined : Number(argOf("storm"));
const GRACE_S = Number(argOf("grace") ?? 10);
const APPS = ["127.0.0.91", "127.0.0.92", "127.0.0.93"];
const APP_PORT = 29631;
const PORTS = { plain: 29680, tls: 29681, http: 29682, admin: 29689, stats: 29688 };
const CLIENT_ADDRS = Array.from({ length: 250 }, (_, i) => `127.0.3.${i + 1}`);
const CIPHERS =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

type Lb = "ours" | "haproxy";
type Mode = "plain" | "tls";

export interface Phase {
    lb: Lb;
    mode: Mode;
    k: number;
    subscribed: number;
    failed: number;
    memKiBPerConn: number;
    cpuSPer1000: number;
    subscribeS: number;
    pingP50Ms: number;
    pingP99Ms: number;
    pingsLost: number;
}

const round2 = (x: number) => Math.round(x * 100) / 100;
const pct = (xs: number[], p: number) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

function haproxyConf(dir: string, pem: string): string {
    const servers = APPS.map((ip, i) => `    server s${i} ${ip}:${APP_PORT}`).join("\n");
    return `global
    nbthread 1
    maxconn 9900
    pidfile ${dir}/haproxy.pid
    ssl-default-bind-ciphers ${CIPHERS}
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
defaults
    mode http
    maxconn 9900
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout tunnel 1h
    timeout http-keep-alive 4s
    option http-keep-alive
    option forwardfor
${HAPROXY_BEST_DEFAULTS}
frontend app
    bind 127.0.0.1:${PORTS.plain}
    bind 127.0.0.1:${PORTS.tls} ssl crt ${pem} alpn h2,http/1.1
    default_backend app
backend app
    balance source
    hash-type consistent
    option httpchk GET /info.json
${HAPROXY_BEST_BACKEND}
${servers}
listen stats
    bind 127.0.0.1:${PORTS.stats}
    stats enable
    stats uri /stats
`;
}

/** Our production templates: TLS on one port and plain HTTP on another, one worker, no access log. */
function oursConf(dir: string): string {
    const view = loopbackView(
        dir,
        APPS.map((ip) => ({ ip, port: APP_PORT })),
        { http: PORTS.http, https: PORTS.tls, admin: PORTS.admin },
        {
            healthCheck: benchHealthCheck("/info.json"),
            statusAllow: ["127.0.0.0/8"],
            workerProcesses: 1,
            workerRlimitNofile: 20000,
        },
    );
    const files = renderNginx(view);
    files["listen/https.conf"] = `listen 127.0.0.1:${PORTS.tls} ssl http2;\nlisten 127.0.0.1:${PORTS.plain};\n`;
    files["http/runtime.conf"] = files["http/runtime.conf"].replace(/^access_log .*$/m, "access_log off;");
    // This machine's hard limit is 20000 descriptors per process: all of them may be connections.
    files["nginx.conf"] = files["nginx.conf"].replace(/worker_connections \d+;/, "worker_connections 19000;");
    for (const [rel, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(view.paths.prefix, rel)), { recursive: true });
        fs.writeFileSync(path.join(view.paths.prefix, rel), text);
    }
    return path.join(view.paths.prefix, "nginx.conf");
}

class Workers {
    private procs: ChildProcess[] = [];
    /** Resolves once every worker is up (ts-node takes a while). */
    start(n: number): Promise<unknown> {
        this.procs = Array.from({ length: n }, () =>
            track(
                fork(__filename, ["--client-worker"], {
                    execArgv: ["-r", "ts-node/register/transpile-only"],
                    stdio: ["ignore", "inherit", "inherit", "ipc"],
                }),
            ),
        );
        return Promise.all(this.procs.map((p) => new Promise((resolve) => p.once("message", resolve))));
    }
    /** Sends one message to every worker and resolves with each worker's answer. */
    all<T extends FromWorker>(msg: (i: number) => ToWorker, timeoutMs: number): Promise<T[]> {
        return Promise.all(
            this.procs.map(
                (p, i) =>
                    new Promise<T>((resolve, reject) => {
                        const timer = setTimeout(() => reject(new Error("client worker timed out")), timeoutMs);
                        p.once("message", (m: T) => {
                            clearTimeout(timer);
                            resolve(m);
                        });
                        p.send(msg(i));
                    }),
            ),
        );
    }
    async stop() {
        await Promise.all(this.procs.map((p) => stop(p)));
    }
}

async function startLb(lb: Lb, dir: string, pem: string): Promise<ChildProcess> {
    let proc: ChildProcess;
    if (lb === "ours") proc = await startNginxConf(oursConf(path.join(dir, "ours")), PORTS.admin);
    else {
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), haproxyConf(dir, pem));
        proc = track(
            spawn("/usr/sbin/haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], {
                stdio: ["ignore", "ignore", "inherit"],
            }),
        );
    }
    await waitFor(`${lb} listening`, () => portOpen("127.0.0.1", PORTS.tls), 10000);
    await sleep(2000); // checks up, workers settled
    return proc;
}

async function phase(workers: Workers, lb: Lb, mode: Mode, k: number, dir: string, pem: string): Promise<Phase> {
    const proc = await startLb(lb, dir, pem);
    try {
        const pids = tree(proc.pid!);
        const rss0 = rssKiB(pids);
        const cpu0 = cpuSeconds(pids);
        const url =
            mode === "tls" ? `wss://127.0.0.1:${PORTS.tls}/websocket` : `ws://127.0.0.1:${PORTS.plain}/websocket`;
        const t0 = Date.now();
        const per = Math.ceil(k / WORKERS);
        const opened = await workers.all<Extract<FromWorker, { type: "subscribed" }>>(
            (i) => ({
                type: "open",
                url,
                count: Math.min(per, k - i * per),
                addrs: CLIENT_ADDRS.filter((_, j) => j % WORKERS === i),
                concurrency: 50,
            }),
            300000,
        );
        const subscribeS = (Date.now() - t0) / 1000;
        const cpu = cpuSeconds(pids) - cpu0;
        await sleep(1000);
        const rss = rssKiB(pids) - rss0;
        const subscribed = opened.reduce((a, x) => a + x.ok, 0);
        const pings = await workers.all<Extract<FromWorker, { type: "rtts" }>>(
            () => ({ type: "ping", windowMs: PING_WINDOW_MS }),
            PING_WINDOW_MS + 30000,
        );
        const rtts = pings.flatMap((p) => p.rtts);
        await workers.all(() => ({ type: "close" }), 60000);
        const result: Phase = {
            lb,
            mode,
            k,
            subscribed,
            failed: opened.reduce((a, x) => a + x.failed, 0),
            memKiBPerConn: round2(rss / Math.max(1, subscribed)),
            cpuSPer1000: round2((cpu / Math.max(1, subscribed)) * 1000),
            subscribeS: round2(subscribeS),
            pingP50Ms: round2(pct(rtts, 50)),
            pingP99Ms: round2(pct(rtts, 99)),
            pingsLost: pings.reduce((a, p) => a + p.lost, 0),
        };
        console.log(
            `${lb.padEnd(7)} ${mode.padEnd(5)} K=${k}: ${subscribed} subscribed (${result.failed} failed) in ${result.subscribeS} s, ` +
                `${result.memKiBPerConn} KiB/conn, ${result.cpuSPer1000} CPU-s/1000 conns, ping p50 ${result.pingP50Ms} ms p99 ${result.pingP99Ms} ms`,
        );
        return result;
    } finally {
        await stop(proc);
        await sleep(500);
    }
}

export interface Storm {
    spread: boolean;
    k: number;
    /** Clients of the host that left: each reconnected to a surviving host. */
    moved: number;
    /** Most new connections the survivors got in one second, and the target with spreading (1.2 x moved/grace). */
    peakNewPerS: number;
    targetPeakPerS: number;
    allResubscribedS: number;
    failed: number;
}

const established = (ip: string) =>
    execFileSync("ss", ["-Htn", "state", "established", "src", ip, `sport = :${APP_PORT}`], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean).length;

async function stormPhase(workers: Workers, dir: string, pem: string, apps: ChildProcess[], spread: boolean) {
    const proc = await startLb("ours", dir, pem);
    try {
        const per = Math.ceil(STORM! / WORKERS);
        await workers.all(
            (i) => ({
                type: "open",
                url: `ws://127.0.0.1:${PORTS.plain}/websocket`,
                count: Math.min(per, STORM! - i * per),
                addrs: CLIENT_ADDRS.filter((_, j) => j % WORKERS === i),
                concurrency: 50,
            }),
            300000,
        );
        const leaving = APPS.map((ip, i) => ({ i, ip, n: established(ip) })).sort((a, b) => b.n - a.n)[0];
        await workers.all(() => ({ type: "storm" }), 10000);
        const t0 = Date.now();
        await request({
            url: `http://127.0.0.1:${PORTS.admin}/lb/peers/${leaving.ip}:${APP_PORT}/drain`,
            method: "POST",
        });
        if (spread) {
            const lib = hostTool("conn-lib.sh");
            const script = '. "$0"; close_spread "$1" remote src "$2" "sport = :$3"';
            execFileSync("bash", ["-c", script, lib, String(GRACE_S), leaving.ip, String(APP_PORT)]);
        }
        await stop(apps[leaving.i]);
        type Report = Extract<FromWorker, { type: "storm-report" }>;
        let reports: Report[] = [];
        const settled = () => {
            const lost = reports.reduce((a, r) => a + r.lost, 0);
            const done = reports.reduce((a, r) => a + r.resubscribed.length + r.failed, 0);
            return lost > 0 && done >= lost;
        };
        for (let i = 0; i < 240 && !settled(); i++) {
            await sleep(500);
            reports = await workers.all<Report>(() => ({ type: "storm-report" }), 10000);
        }
        const perSecond = new Map<number, number>();
        for (const t of reports.flatMap((r) => r.reopened)) {
            const s = Math.floor((t - t0) / 1000);
            perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
        }
        const moved = reports.reduce((a, r) => a + r.lost, 0);
        const result: Storm = {
            spread,
            k: STORM!,
            moved,
            peakNewPerS: Math.max(0, ...perSecond.values()),
            targetPeakPerS: round2((1.2 * moved) / GRACE_S),
            allResubscribedS: round2((Math.max(t0, ...reports.flatMap((r) => r.resubscribed)) - t0) / 1000),
            failed: reports.reduce((a, r) => a + r.failed, 0),
        };
        console.log(
            `storm ${spread ? "spread" : "at once"}: ${moved} of ${STORM} clients moved off ${leaving.ip}, ` +
                `peak ${result.peakNewPerS} new connections/s (target with spreading ${result.targetPeakPerS}), ` +
                `all resubscribed after ${result.allResubscribedS} s, ${result.failed} failed; per second: ` +
                [...perSecond.entries()]
                    .sort((a, b) => a[0] - b[0])
                    .map(([s, n]) => `${s}:${n}`)
                    .join(" "),
        );
        await workers.all(() => ({ type: "close" }), 60000);
        apps[leaving.i] = track(
            startApp(path.join(dir, "app"), { PORT: String(APP_PORT), BIND_IP: leaving.ip, STOP_GRACE_SECONDS: "0" }),
        );
        await waitFor(`app ${leaving.ip}`, () => portOpen(leaving.ip, APP_PORT), 20000);
        return result;
    } finally {
        await stop(proc);
        await sleep(500);
    }
}

async function main() {
    const dir = tempDir("bench-ws");
    const workers = new Workers();
    const apps: ChildProcess[] = [];
    try {
        const { certificate, privateKey } = selfSignedCert(dir);
        // Ours uses the same certificate (loopbackView takes dir/cert.pem when present).
        fs.mkdirSync(path.join(dir, "ours"));
        for (const f of ["cert.pem", "key.pem"]) fs.copyFileSync(path.join(dir, f), path.join(dir, "ours", f));
        const pem = path.join(dir, "haproxy.pem");
        fs.writeFileSync(pem, fs.readFileSync(certificate, "utf8") + fs.readFileSync(privateKey, "utf8"));
        const bundle = buildBundle(path.join(dir, "sample.tgz"), "bench-ws");
        unpack(bundle.path, path.join(dir, "app"));
        for (const ip of APPS) {
            apps.push(
                track(
                    startApp(path.join(dir, "app"), { PORT: String(APP_PORT), BIND_IP: ip, STOP_GRACE_SECONDS: "0" }),
                ),
            );
            await waitFor(`app ${ip}`, () => portOpen(ip, APP_PORT), 20000);
        }
        await workers.start(WORKERS);
        if (STORM !== undefined) {
            const storms = [
                await stormPhase(workers, dir, pem, apps, false),
                await stormPhase(workers, dir, pem, apps, true),
            ];
            const spread = storms[1];
            const result = {
                bench: "ws-storm",
                settings: { k: STORM, graceS: GRACE_S, workers: WORKERS, backends: APPS.length },
                storms,
                targets: {
                    spreadPeak: {
                        max: spread.targetPeakPerS,
                        value: spread.peakNewPerS,
                        pass: spread.peakNewPerS <= spread.targetPeakPerS,
                    },
                    noneLost: { pass: storms.every((s) => s.failed === 0 && s.moved > 0) },
                },
            };
            fs.mkdirSync(OUT, { recursive: true });
            fs.writeFileSync(path.join(OUT, "ws-storm.json"), JSON.stringify(result, null, 2) + "\n");
            console.log(JSON.stringify(result));
            return;
        }
        const phases: Phase[] = [];
        let n = 0;
        for (const k of STEPS)
            for (const mode of ["plain", "tls"] as Mode[]) {
                const order: Lb[] = n++ % 2 ? ["haproxy", "ours"] : ["ours", "haproxy"];
                for (const lb of order) phases.push(await phase(workers, lb, mode, k, dir, pem));
            }
        const find = (lb: Lb, mode: Mode, k: number) =>
            phases.find((p) => p.lb === lb && p.mode === mode && p.k === k)!;
        const kMax = STEPS[STEPS.length - 1];
        const ratios = (mode: Mode, k: number) => ({
            memPerConn: round2(find("ours", mode, k).memKiBPerConn / find("haproxy", mode, k).memKiBPerConn),
            cpuPerConn: round2(find("ours", mode, k).cpuSPer1000 / find("haproxy", mode, k).cpuSPer1000),
        });
        const tlsMax = ratios("tls", kMax);
        const result = {
            bench: "ws",
            settings: { steps: STEPS, workers: WORKERS, pingWindowS: PING_WINDOW_MS / 1000, backends: APPS.length },
            phases,
            ratio: Object.fromEntries(
                STEPS.flatMap((k) => (["plain", "tls"] as Mode[]).map((m) => [`${m}_${k}`, ratios(m, k)])),
            ),
            targets: {
                tlsMemPerConnVsHaproxy: { k: kMax, max: 1.3, value: tlsMax.memPerConn, pass: tlsMax.memPerConn <= 1.3 },
                tlsCpuPerConnVsHaproxy: { k: kMax, max: 1.2, value: tlsMax.cpuPerConn, pass: tlsMax.cpuPerConn <= 1.2 },
                allSubscribed: { pass: phases.every((p) => p.subscribed === p.k) },
            },
        };
        fs.mkdirSync(OUT, { recursive: true });
        fs.writeFileSync(path.join(OUT, "ws.json"), JSON.stringify(result, null, 2) + "\n");
        fs.writeFileSync(path.join(OUT, "ws.svg"), wsChart(phases, STEPS));
        console.log(JSON.stringify(result));
    } finally {
        await workers.stop();
        await stopAll();
    }
}

if (process.argv.includes("--client-worker")) clientWorker();
else
    main().catch(async (e) => {
        console.error(e);
        await stopAll();
        process.exit(1);
    });
