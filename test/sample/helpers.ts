// Shared by test/sample, test/host and bench/deploy.ts: build sample bundles, find ports, run processes
// with time limits, small HTTP helpers. Every process started here is killed by PID.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";

export const repoRoot = path.resolve(__dirname, "..", "..");

// sample-app/build.js is plain Node; load it as CommonJS.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const builder = require(path.join(repoRoot, "sample-app", "build.js")) as {
    build(opts: {
        out: string;
        release: string;
        broken: string | null;
        nodeVersion?: string | null;
        requireMongoUrl?: boolean;
    }): {
        path: string;
        sha256: string;
    };
};

export interface Bundle {
    path: string;
    sha256: string;
}

/**
 * Builds the sample bundle (deterministic tarball) into `out`. nodeVersion overrides its star.json's;
 * requireMongoUrl makes the server stop at start without MONGO_URL, as Meteor does.
 */
export function buildBundle(
    out: string,
    release: string,
    broken: "exit" | "unhealthy" | null = null,
    opts: { nodeVersion?: string; requireMongoUrl?: boolean } = {},
): Bundle {
    return builder.build({
        out,
        release,
        broken,
        nodeVersion: opts.nodeVersion ?? null,
        requireMongoUrl: opts.requireMongoUrl,
    });
}

/** Unpacks a bundle tarball into dir (dir/bundle/main.js). */
export function unpack(tarball: string, dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync("tar", ["-xzf", tarball, "-C", dir]);
}

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
    });
}

export interface HttpResult {
    status: number;
    body: string;
}

export function httpRequest(
    url: string,
    opts: { method?: string; headers?: Record<string, string>; timeoutMs?: number; agent?: http.Agent } = {},
): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
        const req = http.request(
            url,
            {
                method: opts.method ?? "GET",
                headers: opts.headers,
                timeout: opts.timeoutMs ?? 3000,
                agent: opts.agent ?? false,
            },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (c) => (body += c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
                res.on("error", reject);
            },
        );
        req.on("timeout", () => req.destroy(new Error(`timeout: ${url}`)));
        req.on("error", reject);
        req.end();
    });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value or timeoutMs passes (bounded). */
export async function waitFor<T>(
    fn: () => Promise<T | undefined | false>,
    timeoutMs: number,
    what: string,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        try {
            const v = await fn();
            if (v) return v;
        } catch {
            // not yet
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
    }
}

/** Is a PID alive (and not a zombie)? */
export function alive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
        return false;
    }
}

export function killPid(pid: number | undefined, signal: NodeJS.Signals = "SIGKILL"): void {
    if (pid === undefined) return;
    try {
        process.kill(pid, signal);
    } catch {
        // already gone
    }
}

export interface RunResult {
    code: number | null;
    stdout: string;
    stderr: string;
    ms: number;
}

/** Runs a command to completion with stdin text and a hard time limit (SIGKILL by PID on expiry). */
export function run(
    cmd: string,
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; stdin?: string; timeoutMs?: number; cwd?: string } = {},
): Promise<RunResult> {
    return new Promise((resolve, reject) => {
        const started = Date.now();
        const child = spawn(cmd, args, {
            env: opts.env ?? process.env,
            cwd: opts.cwd,
            stdio: ["pipe", "pipe", "pipe"],
        });
        let stdout = "";
        let stderr = "";
        child.stdout.on("data", (c) => (stdout += c));
        child.stderr.on("data", (c) => (stderr += c));
        const timer = setTimeout(() => killPid(child.pid), opts.timeoutMs ?? 60000);
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, stdout, stderr, ms: Date.now() - started });
        });
        child.stdin.end(opts.stdin ?? "");
    });
}

/** Starts the sample server from an unpacked bundle dir on 127.0.0.1:port. */
export function startApp(bundleDir: string, env: Record<string, string>): ChildProcess {
    const child = spawn(process.execPath, ["main.js"], {
        cwd: path.join(bundleDir, "bundle"),
        env: { PATH: process.env.PATH ?? "", BIND_IP: "127.0.0.1", ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (c) => (output += c));
    child.stderr!.on("data", (c) => (output += c));
    (child as ChildProcess & { output: () => string }).output = () => output;
    return child;
}

export function outputOf(child: ChildProcess): string {
    return (child as ChildProcess & { output?: () => string }).output?.() ?? "";
}

/** Resolves with the exit code (or signal) of a child, or rejects after timeoutMs. */
export function exitOf(
    child: ChildProcess,
    timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return new Promise((resolve, reject) => {
        if (child.exitCode !== null || child.signalCode !== null) {
            resolve({ code: child.exitCode, signal: child.signalCode });
            return;
        }
        const timer = setTimeout(
            () => reject(new Error(`process ${child.pid} still running after ${timeoutMs} ms`)),
            timeoutMs,
        );
        child.once("exit", (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal });
        });
    });
}
