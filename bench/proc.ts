// CPU time and memory of a process tree from /proc, for the benches: on a shared machine, CPU seconds
// spent per request or per connection compare load balancers fairly where wall-clock rates drift.
import { execFileSync } from "child_process";
import * as fs from "fs";

const TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

function stat(pid: number): string[] | null {
    try {
        const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        // Fields after the command name (which may hold spaces): state is [0], ppid [1], utime [11], stime [12].
        return s.slice(s.lastIndexOf(")") + 2).split(" ");
    } catch {
        return null;
    }
}

/** pid and all its descendants (nginx master + workers). */
export function tree(pid: number): number[] {
    const children = new Map<number, number[]>();
    for (const e of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(e)) continue;
        const s = stat(Number(e));
        if (!s) continue;
        const ppid = Number(s[1]);
        children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    }
    const out: number[] = [];
    const walk = (p: number) => {
        out.push(p);
        for (const c of children.get(p) ?? []) walk(c);
    };
    walk(pid);
    return out;
}

/** User + system CPU seconds of these processes so far. */
export function cpuSeconds(pids: number[]): number {
    let ticks = 0;
    for (const pid of pids) {
        const s = stat(pid);
        if (s) ticks += Number(s[11]) + Number(s[12]);
    }
    return ticks / TICKS;
}

/** Resident memory of these processes, in KiB. */
export function rssKiB(pids: number[]): number {
    let kb = 0;
    for (const pid of pids) {
        try {
            const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
            if (m) kb += Number(m[1]);
        } catch {
            /* gone */
        }
    }
    return kb;
}
