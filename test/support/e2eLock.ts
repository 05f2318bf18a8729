// The machine-wide e2e lock (/tmp/meteor-e2e.lock): one local topology run at a time. A suite takes it with
// flock(1) for its whole run, unless a process it runs under already holds it (`flock LOCK npm test`), which
// would otherwise wait for itself.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";

export const E2E_LOCK = "/tmp/meteor-e2e.lock";

function ancestors(): Set<number> {
    const out = new Set<number>();
    for (let pid = process.pid; pid > 1 && !out.has(pid);) {
        out.add(pid);
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    }
    return out;
}

/** Whether this process or one it runs under holds the flock on `file` (from /proc/locks). */
export function heldByAncestor(file: string): boolean {
    if (!fs.existsSync(file)) return false;
    const inode = fs.statSync(file).ino;
    const mine = ancestors();
    return fs
        .readFileSync("/proc/locks", "utf8")
        .split("\n")
        .some((line) => {
            // "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters have "->" and do not hold it.
            const f = line.trim().split(/\s+/);
            if (f[1] !== "FLOCK") return false;
            return Number(f[5].split(":")[2]) === inode && mine.has(Number(f[4]));
        });
}

/** Takes the lock (waiting up to waitSeconds); the returned function releases it. */
export async function takeE2eLock(waitSeconds: number): Promise<() => Promise<void>> {
    if (heldByAncestor(E2E_LOCK)) return async () => undefined;
    // flock holds the lock while `cat` runs; closing its stdin ends it, and so does this process's exit.
    const child: ChildProcess = spawn(
        "flock",
        ["-w", String(waitSeconds), E2E_LOCK, "sh", "-c", "echo locked; exec cat"],
        {
            stdio: ["pipe", "pipe", "inherit"],
        },
    );
    const locked = await new Promise<boolean>((resolve) => {
        child.stdout!.on("data", (d: Buffer) => d.toString().includes("locked") && resolve(true));
        child.on("exit", () => resolve(false));
    });
    if (!locked) throw new Error(`${E2E_LOCK}: not taken within ${waitSeconds} s (another e2e run holds it)`);
    return () =>
        new Promise((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.on("exit", () => resolve());
            child.stdin!.end();
        });
}
