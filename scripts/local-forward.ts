// The local stack's site from this machine: 127.0.0.1:PORT → the LB's reserved IP :443, which lives in the
// topology's client namespace. Two socat processes, one per network namespace, joined by a unix socket (a file,
// so it crosses network namespaces): nothing is added to this machine's own network but the loopback listener.
// Both are servers of the topology's state file, so its teardown (--destroy) stops them.
import { spawn } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as net from "net";
import * as path from "path";
import * as topo from "../test/e2e/engine/topology";
import { alive, killPid, stopPid } from "../test/support/processes";
import { sleep } from "../test/support/wait";

const NAME = "forward";

export interface Forward {
    port: number;
    target: string;
}

const names = (f: Forward) => [`${NAME} 127.0.0.1:${f.port}`, `${NAME} ${f.target}:443`];

/** The forward's processes recorded in the state file. */
function recorded(): topo.ServerRecord[] {
    return (topo.loadState()?.servers ?? []).filter((s) => s.name.startsWith(`${NAME} `));
}

/** Stops the forward (and the connections socat forked for it: each pair is its own process group). */
export async function stopForward(): Promise<void> {
    const state = topo.loadState();
    if (!state) return;
    for (const s of recorded()) {
        killPid(-s.pid, "SIGTERM");
        await stopPid(s.pid, 3000);
    }
    state.servers = state.servers.filter((s) => !s.name.startsWith(`${NAME} `));
    topo.saveState(state);
    fs.rmSync(path.join(topo.DATA_DIR, "site.sock"), { force: true });
}

function portFree(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const server = net.createServer();
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
}

/** Any HTTPS answer through the forward (the certificate is the stack's self-signed one). */
function answers(port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const req = https.get(
            { host: "127.0.0.1", port, path: "/", rejectUnauthorized: false, timeout: 3000 },
            (res) => {
                res.resume();
                resolve(true);
            },
        );
        req.on("error", () => resolve(false));
        req.on("timeout", () => req.destroy());
    });
}

function start(name: string, argv: string[], netns: string, log: number): void {
    const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["ignore", log, log] });
    child.unref();
    topo.recordServer({ name, pid: child.pid!, netns });
}

/** Starts the forward unless the one running already goes to this target from this port; "kept" or "started". */
export async function ensureForward(f: Forward): Promise<"kept" | "started"> {
    const want = names(f);
    const running = recorded();
    if (running.length === want.length && running.every((s) => want.includes(s.name) && alive(s.pid))) return "kept";
    await stopForward();
    if (!(await portFree(f.port)))
        throw new Error(`127.0.0.1:${f.port} is in use by another program: choose another port with --port`);
    const sock = path.join(topo.DATA_DIR, "site.sock");
    const log = fs.openSync(path.join(topo.DATA_DIR, "forward.log"), "a", 0o600);
    try {
        start(
            want[1],
            ["ip", "netns", "exec", topo.CLIENT_NS, "socat"].concat([
                `UNIX-LISTEN:${sock},fork,unlink-early,mode=600`,
                `TCP:${f.target}:443,connect-timeout=5`,
            ]),
            topo.CLIENT_NS,
            log,
        );
        start(
            want[0],
            ["socat", `TCP-LISTEN:${f.port},bind=127.0.0.1,reuseaddr,fork`, `UNIX-CONNECT:${sock}`],
            "",
            log,
        );
    } finally {
        fs.closeSync(log);
    }
    for (let i = 0; i < 50; i++) {
        if (await answers(f.port)) return "started";
        await sleep(200);
    }
    throw new Error(
        `the forward 127.0.0.1:${f.port} → ${f.target}:443 did not answer; see ${topo.DATA_DIR}/forward.log`,
    );
}
