// npm run bench:deploy [-- --hosts 3 --workers 8 --ddp 12 --rounds 2 --out DIR]
//
// A rolling deploy on this machine with the real pieces: the production nginx + Lua LB (nginx/render.ts,
// run by Debian's nginx on loopback), N sample-app "hosts" (each its own temp root, 127.0.0.7x address and
// test/support/fake-service.sh in place of systemd), and components/host/stage.sh + cutover.sh.
//   1. baseline per host: restart (stop + start) until the app answers locally, plus rise x interval of the
//      LB's checker, i.e. the least a cutover can take. The host is restarted with its DDP clients on it:
//      a graceful cutover must move them (conn-lib.sh's spread), and a graceful restart moves them too
//      (the sample app closes them over its grace period on SIGTERM), so both count that work. Then
//      once more right away, its clients gone to the other hosts: a bare restart, for the ratio of the
//      cutover without its spread;
//   2. under steady load (keep-alive HTTPS clients from many 127.0.0.x addresses through the LB, plus DDP
//      clients over wss that reconnect like Meteor's), stage the next release on every host at once, then
//      cut the hosts over one by one; per-host cutover time, requests that failed during the whole roll,
//      DDP closes and failed reconnects. Repeated `rounds` times (alternating two releases);
//   3. still under load, a rollback of every host to the release before (`npm run ops -- rollback`'s host
//      side: cutover.sh --env live to a kept release, nothing uploaded), seconds per host beside a roll's.
// Targets: 0 failed requests; cutover <= 1.3 x (restart + rise x interval), `cutoverOverBaseline`. Also
// reported, without a target: the cutover less its spread phase over the same baseline and over the bare
// one, and cutover.sh's per-phase timings (mean of the rolls' cutovers).
// The last line of output is one JSON object; bench/results/deploy.json holds it and deploy.svg its chart
// (--out DIR to write them elsewhere). The full run on booted Debian hosts is the e2e scenario's.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { renderEnvFile } from "../components/env";
import { FAKE_SERVICE, hostEnv, makeHostRoot } from "../test/support/fakeHost";
import { tempDir } from "../test/support/files";
import { request } from "../test/support/http";
import { loopbackView, startLb, statusRows, stopAll } from "../test/support/nginx";
import { run } from "../test/support/processes";
import { buildBundle, Bundle } from "../test/support/sampleApp";
import { waitFor } from "../test/support/wait";
import WebSocket from "ws";
import { localHostTools } from "../test/support/hostTools";
import { deployChart, Second } from "./deployChart";

const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
};
const HOSTS = arg("hosts", 3);
const WORKERS = arg("workers", 8);
const DDP_CLIENTS = arg("ddp", 12);
const ROUNDS = arg("rounds", 2);
const outArg = process.argv.indexOf("--out");
const OUT = path.resolve(outArg > 0 ? process.argv[outArg + 1] : path.join(__dirname, "results"));
const APP_PORT = 19631;
const PORTS = { http: 19680, https: 19681, admin: 19689 };
const TARGET_CUTOVER_OVER_BASELINE = 1.3;
const CHECK = { intervalMs: 300, rise: 2, fall: 2, timeoutMs: 500 };

const HOST_DIR = localHostTools();

interface Host {
    ip: string;
    peer: string;
    root: string;
    env: NodeJS.ProcessEnv;
    envFile: string;
}

const round = (x: number) => Math.round(x);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sec = (ms: number) => Math.round(ms / 100) / 10;

function makeHost(dir: string, i: number): Host {
    const ip = `127.0.0.${71 + i}`;
    const root = path.join(dir, `host-${i}`);
    const { appRoot, envRoot } = makeHostRoot(root);
    const envFile = renderEnvFile({
        NODE_ENV: "production",
        PORT: String(APP_PORT),
        ROOT_URL: "https://lb.test",
        HTTP_FORWARDED_COUNT: "1",
        METEOR_SETTINGS: JSON.stringify({ public: { releaseLabel: "bench" } }),
        STOP_GRACE_SECONDS: "2",
        BIND_IP: ip,
    });
    return {
        ip,
        peer: `${ip}:${APP_PORT}`,
        root,
        envFile,
        env: hostEnv({ appRoot, envRoot, stateDir: root, lbPort: PORTS.admin, healthHost: ip, stopTimeoutSeconds: 12 }),
    };
}

async function stage(h: Host, b: Bundle): Promise<void> {
    fs.copyFileSync(b.path, path.join(h.root, "srv/meteor/incoming", `${b.sha256}.tgz`));
    const r = await run(path.join(HOST_DIR, "stage.sh"), [b.sha256], {
        env: h.env,
        stdin: h.envFile,
        timeoutMs: 120_000,
    });
    if (r.code !== 0) throw new Error(`stage on ${h.peer} failed: ${r.stderr}`);
}

interface Cutover {
    ms: number;
    /** cutover.sh's own count, from its start to the end of its cleanup. */
    scriptMs: number;
    /** Its per-phase timings (drain, spread, switch, restart, health, undrain, lb-up). */
    phases: Record<string, number>;
    /** Client connections its spread closed. */
    spreadClosed: number;
}

/** Reads cutover.sh's last lines: "closed N client connection(s) ..." and "cut over to X in T: a=Ts b=Ts; ...". */
function parseCutover(stdout: string, ms: number): Cutover {
    const m = /cut over to \S+ in ([\d.]+)s:([^;]*);/.exec(stdout);
    if (!m) throw new Error(`cannot read cutover.sh's timings: ${stdout.slice(-300)}`);
    const phases = Object.fromEntries(
        [...m[2].matchAll(/([\w-]+)=([\d.]+)s/g)].map(([, name, sec]) => [name, Number(sec) * 1000]),
    );
    const closed = /closed (\d+) client connection/.exec(stdout);
    return { ms, scriptMs: Number(m[1]) * 1000, phases, spreadClosed: closed ? Number(closed[1]) : 0 };
}

/** One host's cutover to `b`; `live`: to a release it keeps, with the env it runs, as `npm run ops -- rollback`. */
async function cutover(h: Host, b: Bundle, live = false): Promise<Cutover> {
    const r = await run(
        path.join(HOST_DIR, "cutover.sh"),
        [
            "--release",
            b.sha256,
            "--peer",
            h.peer,
            "--lb",
            "127.0.0.1",
            "--health-path",
            "/",
            "--keep",
            "3",
            "--health-timeout",
            "30",
            "--lb-timeout",
            "30",
            ...(live ? ["--env", "live"] : []),
        ],
        { env: h.env, stdin: live ? "" : h.envFile, timeoutMs: 120_000 },
    );
    if (r.code !== 0) throw new Error(`cutover on ${h.peer} failed: ${r.stderr}`);
    process.stdout.write(`  ${r.stdout.trim().split("\n").pop()}\n`);
    return parseCutover(r.stdout, r.ms);
}

function get(url: string, agent: https.Agent, timeoutMs = 5000): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = https.get(url, { agent, headers: { Host: "lb.test" }, timeout: timeoutMs }, (res) => {
            let body = "";
            res.on("data", (c) => (body += c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            res.on("error", reject);
        });
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", reject);
    });
}

/**
 * DDP clients over the LB's wss:///websocket (one per 127.0.0.x address, so they spread over the hosts).
 * Like Meteor's client they reconnect after a close (after 50-150 ms) and subscribe again; we count
 * closes, failed attempts and the longest time from a close to being subscribed again.
 */
function ddpClients(n: number) {
    const stats = {
        closes: 0,
        failedAttempts: 0,
        maxOutageMs: 0,
        hostsSeen: new Set<string>(),
        readyAt: [] as number[],
    };
    let on = true;
    const sockets = new Set<WebSocket>();
    const client = (i: number) => {
        let closedAt: number | undefined;
        const connect = () => {
            if (!on) return;
            const ws = new WebSocket(`wss://127.0.0.1:${PORTS.https}/websocket`, {
                localAddress: `127.0.0.${150 + i}`,
                rejectUnauthorized: false,
                headers: { Host: "lb.test" },
            });
            sockets.add(ws);
            let subscribed = false;
            ws.on("open", () => ws.send(JSON.stringify({ msg: "connect", version: "1", support: ["1"] })));
            ws.on("message", (data) => {
                const m = JSON.parse(String(data));
                if (m.msg === "connected")
                    ws.send(JSON.stringify({ msg: "sub", id: "s", name: "sample.server", params: [] }));
                if (m.msg === "added") stats.hostsSeen.add(`${i}:${m.fields.host}:${m.fields.release.slice(0, 6)}`);
                if (m.msg === "ready") {
                    subscribed = true;
                    stats.readyAt.push(Date.now());
                    if (closedAt !== undefined) stats.maxOutageMs = Math.max(stats.maxOutageMs, Date.now() - closedAt);
                    closedAt = undefined;
                }
            });
            ws.on("error", () => undefined);
            ws.on("close", () => {
                sockets.delete(ws);
                if (!on) return;
                if (subscribed) {
                    stats.closes++;
                    closedAt = Date.now();
                } else stats.failedAttempts++;
                setTimeout(connect, 50 + Math.random() * 100);
            });
        };
        connect();
    };
    for (let i = 0; i < n; i++) client(i);
    return {
        stats,
        stop: () => {
            on = false;
            for (const ws of sockets) ws.terminate();
        },
    };
}

const appUp = async (h: Host) => {
    try {
        return (await request({ url: `http://${h.ip}:${APP_PORT}/`, timeoutMs: 500 })).status === 200;
    } catch {
        return false;
    }
};

/** The app's established connections (clients and the LB's), as close_spread finds them. */
const appConnections = (h: Host) =>
    execFileSync("ss", ["-Htn", "state", "established", "src", h.ip, `sport = :${APP_PORT}`], { encoding: "utf8" })
        .split("\n")
        .filter(Boolean).length;

async function peerUp(h: Host): Promise<boolean> {
    const r = await run("curl", ["-fsS", "--max-time", "2", `http://127.0.0.1:${PORTS.admin}/lb/peers/${h.peer}`], {
        timeoutMs: 5000,
    });
    return r.code === 0 && /"status"\s*:\s*"up"/.test(r.stdout) && /"draining"\s*:\s*false/.test(r.stdout);
}

/** The chart's timeline: per second since `t0`, filled by the load, the DDP clients and an LB sampler. */
function timeline(hosts: Host[]) {
    const t0 = Date.now();
    const seconds: Second[] = [];
    const at = (ms = Date.now()) => {
        const i = Math.floor((ms - t0) / 1000);
        while (seconds.length <= i)
            seconds.push({ requests: {}, failed: 0, ddpSubscribed: 0, connections: {}, draining: [] });
        return seconds[i];
    };
    // The sample app names its process (pid), not its host: each host's pid, asked after every restart.
    const pidHost = new Map<number, string>();
    const servedBy = new Map<number, number>();
    const learnPids = async () => {
        for (const h of hosts) {
            const r = await request<{ pid: number }>({ url: `http://${h.ip}:${APP_PORT}/info.json`, timeoutMs: 2000 });
            pidHost.set(r.json.pid, h.peer);
        }
    };
    let sampling = true;
    const sampler = (async () => {
        while (sampling) {
            const rows = await statusRows(PORTS.admin).catch(() => []);
            const s = at();
            for (const r of rows) {
                s.connections[r.name] = Math.max(s.connections[r.name] ?? 0, r.connections ?? 0);
                if (r.draining && !s.draining.includes(r.name)) s.draining.push(r.name);
            }
            await new Promise((r) => setTimeout(r, 250));
        }
    })();
    return {
        learnPids,
        served: (pid: number) => {
            at();
            const key = Math.floor((Date.now() - t0) / 1000) * 1e7 + pid;
            servedBy.set(key, (servedBy.get(key) ?? 0) + 1);
        },
        failed: () => at().failed++,
        /** Stops the sampler; the seconds with requests attributed to hosts and the DDP subscriptions. */
        finish: async (readyAt: number[]) => {
            sampling = false;
            await sampler;
            for (const [key, n] of servedBy) {
                const s = seconds[Math.floor(key / 1e7)];
                const host = pidHost.get(key % 1e7) ?? "other";
                s.requests[host] = (s.requests[host] ?? 0) + n;
            }
            for (const t of readyAt) if (t >= t0) at(t).ddpSubscribed++;
            return seconds;
        },
    };
}

async function main(): Promise<void> {
    const dir = tempDir("bench-deploy");
    const hosts = [...Array(HOSTS).keys()].map((i) => makeHost(dir, i));
    const releases = [
        buildBundle(path.join(dir, "r1.tgz"), "bench-1"),
        buildBundle(path.join(dir, "r2.tgz"), "bench-2"),
    ];
    const view = loopbackView(
        dir,
        hosts.map((h) => ({ ip: h.ip, port: APP_PORT })),
        PORTS,
        {
            healthCheck: { path: "/", ...CHECK, type: "http", host: "lb.test" },
        },
    );
    await startLb(view);
    const workers: Promise<void>[] = [];
    let loadOn = false;
    try {
        // First deploy (not measured).
        await Promise.all(hosts.map((h) => stage(h, releases[0])));
        for (const h of hosts) await cutover(h, releases[0]);
        for (const h of hosts) await waitFor(`LB reports ${h.peer} up`, () => peerUp(h), 20_000);

        // DDP clients stay connected through the baseline and the rolls, so both stop with the same
        // connections to close (the app closes them one by one over its grace period).
        const ddp = ddpClients(DDP_CLIENTS);
        await new Promise((r) => setTimeout(r, 1500));

        // Baseline: restart until the app answers locally, then rise x interval. First with the host's
        // clients on it (the app closes them over its grace period), then at once again, bare: its clients
        // reconnected to the other hosts while it was down and stay there.
        const restartMs: number[] = [];
        const restartConnections: number[] = [];
        const bareRestartMs: number[] = [];
        const bareRestartConnections: number[] = [];
        const restart = async (h: Host, ms: number[], connections: number[]) => {
            connections.push(appConnections(h));
            const t0 = Date.now();
            const r = await run(FAKE_SERVICE, ["restart"], { env: h.env, timeoutMs: 30_000 });
            if (r.code !== 0) throw new Error(`restart failed: ${r.stderr}`);
            await waitFor(`${h.peer} healthy`, () => appUp(h), 20_000);
            ms.push(Date.now() - t0);
            await waitFor(`LB reports ${h.peer} up`, () => peerUp(h), 20_000);
        };
        for (const h of hosts) {
            await restart(h, restartMs, restartConnections);
            await restart(h, bareRestartMs, bareRestartConnections);
        }
        const riseMs = CHECK.rise * CHECK.intervalMs;
        const baselineMs = mean(restartMs) + riseMs;
        const bareBaselineMs = mean(bareRestartMs) + riseMs;
        const baselineDdpCloses = ddp.stats.closes;

        // Steady load through the LB.
        const tl = timeline(hosts);
        await tl.learnPids();
        let ok = 0;
        const failures: string[] = [];
        const served = new Map<string, number>();
        loadOn = true;
        for (let w = 0; w < WORKERS; w++) {
            const agent = new https.Agent({
                keepAlive: true,
                maxSockets: 1,
                localAddress: `127.0.0.${100 + w}`,
                rejectUnauthorized: false,
            });
            workers.push(
                (async () => {
                    while (loadOn) {
                        try {
                            const r = await get(`https://127.0.0.1:${PORTS.https}/info.json`, agent);
                            if (r.status === 200) {
                                ok++;
                                const info = JSON.parse(r.body) as { release: string; pid: number };
                                tl.served(info.pid);
                                const release = info.release.slice(0, 12);
                                served.set(release, (served.get(release) ?? 0) + 1);
                            } else {
                                failures.push(`HTTP ${r.status}`);
                                tl.failed();
                            }
                        } catch (e) {
                            failures.push((e as Error).message);
                            tl.failed();
                        }
                    }
                    agent.destroy();
                })(),
            );
        }
        await new Promise((r) => setTimeout(r, 1000));

        const cutovers: Cutover[] = [];
        const stageMs: number[] = [];
        for (let n = 0; n < ROUNDS; n++) {
            const next = releases[(n + 1) % 2];
            console.log(`round ${n + 1}: rolling ${hosts.length} hosts to ${next.sha256.slice(0, 12)}`);
            const s0 = Date.now();
            await Promise.all(hosts.map((h) => stage(h, next)));
            stageMs.push(Date.now() - s0);
            for (const h of hosts) {
                cutovers.push(await cutover(h, next));
                await tl.learnPids();
            }
        }
        // Rollback, the host side of `npm run ops -- rollback` (ops/remote.ts rollbackCommand): every host back
        // to the release before, which it keeps, through the same gate with its live env; nothing uploaded
        // or staged (the SSH hops through the LB are not in it).
        const previous = releases[(ROUNDS + 1) % 2];
        console.log(`rollback: ${hosts.length} hosts back to ${previous.sha256.slice(0, 12)}`);
        const rollbackMs: number[] = [];
        for (const h of hosts) {
            rollbackMs.push((await cutover(h, previous, true)).ms);
            await tl.learnPids();
        }
        await new Promise((r) => setTimeout(r, 1000));
        loadOn = false;
        await Promise.all(workers);
        ddp.stop();
        const seconds = await tl.finish(ddp.stats.readyAt);
        fs.mkdirSync(OUT, { recursive: true });
        // Beside deploy.json (written with the result below).
        fs.writeFileSync(
            path.join(OUT, "deploy.svg"),
            deployChart(
                seconds,
                hosts.map((h) => h.peer),
            ),
        );

        const last = previous;
        const finalLabels = await Promise.all(
            hosts.map(
                async (h) =>
                    JSON.parse(
                        execFileSync("curl", ["-fsS", `http://${h.ip}:${APP_PORT}/info.json`], { encoding: "utf8" }),
                    ).release,
            ),
        );
        const cutoverMs = cutovers.map((c) => c.ms);
        const meanCutover = mean(cutoverMs);
        const phaseNames = Object.keys(cutovers[0].phases);
        const phasesMs = Object.fromEntries(phaseNames.map((p) => [p, round(mean(cutovers.map((c) => c.phases[p])))]));
        const meanSpread = mean(cutovers.map((c) => c.phases.spread ?? 0));
        const ratio = (ms: number, base: number) => Math.round((ms / base) * 100) / 100;
        const result = {
            bench: "deploy",
            hosts: HOSTS,
            rounds: ROUNDS,
            lb: "nginx+lua (production templates) on loopback",
            check: CHECK,
            restartMs: restartMs.map(round),
            restartConnections,
            bareRestartMs: bareRestartMs.map(round),
            bareRestartConnections,
            riseTimesIntervalMs: riseMs,
            baselineMs: round(baselineMs),
            bareBaselineMs: round(bareBaselineMs),
            stageAllHostsMs: stageMs.map(round),
            cutoverMs: cutoverMs.map(round),
            meanCutoverMs: round(meanCutover),
            // cutover.sh's own count and phases; the rest of meanCutoverMs is its start (bash, the lock, the
            // env staged from stdin, `node --version`) and its cleanup after lb-up (old releases pruned).
            meanScriptMs: round(mean(cutovers.map((c) => c.scriptMs))),
            phasesMs,
            outsidePhasesMs: round(meanCutover - Object.values(phasesMs).reduce((a, b) => a + b, 0)),
            spreadClosed: cutovers.map((c) => c.spreadClosed),
            cutoverOverBaseline: ratio(meanCutover, baselineMs),
            cutoverWithoutSpreadOverBaseline: ratio(meanCutover - meanSpread, baselineMs),
            cutoverWithoutSpreadOverBareBaseline: ratio(meanCutover - meanSpread, bareBaselineMs),
            // A roll's wall time per host (stage on all hosts at once, then the cutovers), beside a rollback's.
            deploySecondsPerHost: sec(
                (stageMs.reduce((a, b) => a + b, 0) + cutoverMs.reduce((a, b) => a + b, 0)) / cutoverMs.length,
            ),
            rollbackMs: rollbackMs.map(round),
            rollbackSecondsPerHost: sec(mean(rollbackMs)),
            requests: ok + failures.length,
            failed: failures.length,
            failures: [...new Set(failures)].slice(0, 5),
            servedByRelease: Object.fromEntries(served),
            ddp: {
                clients: DDP_CLIENTS,
                closesDuringRolls: ddp.stats.closes - baselineDdpCloses,
                failedReconnectAttempts: ddp.stats.failedAttempts,
                maxOutageMs: ddp.stats.maxOutageMs,
            },
            allHostsOnRelease: finalLabels.every((r) => r === last.sha256),
            targets: { failed: 0, cutoverOverBaseline: TARGET_CUTOVER_OVER_BASELINE },
            pass:
                failures.length === 0 &&
                meanCutover <= TARGET_CUTOVER_OVER_BASELINE * baselineMs &&
                finalLabels.every((r) => r === last.sha256),
        };
        fs.writeFileSync(path.join(OUT, "deploy.json"), JSON.stringify(result, null, 2) + "\n");
        console.log(JSON.stringify(result));
    } finally {
        loadOn = false;
        await Promise.all(workers).catch(() => undefined);
        for (const h of hosts)
            await run(FAKE_SERVICE, ["stop"], { env: h.env, timeoutMs: 30_000 }).catch(() => undefined);
        await stopAll();
    }
}

main().catch((e) => {
    console.error(`bench:deploy: ${(e as Error).stack ?? e}`);
    process.exitCode = 1;
});
