// Child processes with time limits, stopped by PID only: the suites never signal anything they did not start.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import { sleep } from "./wait";

/** Is a PID alive (and not a zombie)? */
export function alive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
        return false;
    }
}

/** Sends a signal to a PID; a PID already gone is not an error. */
export function killPid(pid: number | undefined, signal: NodeJS.Signals = "SIGKILL"): void {
    if (pid === undefined) return;
    try {
        process.kill(pid, signal);
    } catch {
        // already gone
    }
}

/** SIGTERM, then SIGKILL if the PID is still alive after timeoutMs (for processes that are not our children). */
export async function stopPid(pid: number, timeoutMs: number): Promise<void> {
    if (!alive(pid)) return;
    killPid(pid, "SIGTERM");
    const end = Date.now() + timeoutMs;
    while (alive(pid) && Date.now() < end) await sleep(100);
    if (alive(pid)) killPid(pid, "SIGKILL");
}

/** Processes started for the current suite or bench; stopTracked() stops them all. */
const tracked = new Set<ChildProcess>();

export function track<C extends ChildProcess>(child: C): C {
    tracked.add(child);
    return child;
}

export async function stopTracked(): Promise<void> {
    await Promise.all([...tracked].map((p) => stop(p)));
}

/** Signals a child and resolves once it exited (SIGKILL after 5 s). */
export function stop(p: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    tracked.delete(p);
    if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
        const t = setTimeout(() => killPid(p.pid, "SIGKILL"), 5000);
        p.once("exit", () => {
            clearTimeout(t);
            resolve();
        });
        if (p.pid === undefined) {
            clearTimeout(t);
            resolve();
            return;
        }
        try {
            process.kill(p.pid, signal);
        } catch {
            clearTimeout(t);
            resolve();
        }
    });
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
        child.stdin.on("error", () => {
            // the command closed stdin early; its exit code tells
        });
        child.stdin.end(opts.stdin ?? "");
    });
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
