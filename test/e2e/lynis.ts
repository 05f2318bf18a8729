// lynis (Debian's package on this machine) inside a droplet of the topology: its files are copied into the
// host (the host itself never installs it), then `lynis audit system --quick` runs in the host's
// namespaces and the hardening index is read from its report. Kernel-wide keys inside a container are
// this machine's kernel's, which the host cannot change: the index counts them as they are here. The
// host's network keys (its /etc/sysctl.d net.*) are applied to its network namespace first, from outside:
// on a droplet systemd-sysctl sets them at boot, but systemd-nspawn mounts /proc/sys read-only here.
import { spawn } from "child_process";
import { initPid } from "./engine/hosts";
import type { HostRecord } from "./engine/topology";

export interface LynisResult {
    index: number;
    /** Test ids of the suggestions and warnings lynis left (what was not fixed, for the log). */
    findings: string[];
    seconds: number;
}

const FILES = ["usr/sbin/lynis", "usr/share/lynis", "etc/lynis"];
const REPORT = "/root/lynis-report.dat";

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; stdout: string }> {
    return new Promise((resolve) => {
        const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", () => undefined);
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code: code ?? 255, stdout });
        });
    });
}

/** Runs lynis in `host` and returns its hardening index (throws when it cannot run or report). */
export async function lynis(host: HostRecord, timeoutMs = 30 * 60e3): Promise<LynisResult> {
    const pid = initPid(host);
    if (!pid) throw new Error(`${host.name} is not running`);
    const t = Date.now();
    const inHost = ["-t", String(pid), "-m", "-u", "-i", "-n", "-p", "--"];
    const keys = (await run("nsenter", [...inHost, "sh", "-c", "cat /etc/sysctl.d/*.conf"], 60e3)).stdout
        .split("\n")
        .map((l) => /^\s*(net\.[a-z0-9_.]+)\s*=\s*(\S+)\s*$/.exec(l))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => `${m[1]}=${m[2]}`);
    // One at a time: a few net.* keys (net.core.bpf_jit_*) are the kernel's, not the namespace's, and cannot
    // be set from here; the rest must apply.
    let applied = 0;
    for (const kv of keys)
        if ((await run("ip", ["netns", "exec", host.netns, "sysctl", "-q", "-w", kv], 60e3)).code === 0) applied++;
    if (applied === 0) throw new Error(`${host.name}: none of its net.* sysctls applied`);
    const copy = await run(
        "bash",
        ["-c", `tar -C / -cf - ${FILES.join(" ")} | nsenter ${inHost.join(" ")} tar -C / -xf -`],
        60e3,
    );
    if (copy.code !== 0) throw new Error(`${host.name}: copying lynis in failed`);
    const audit = ["lynis", "audit", "system", "--quick", "--no-colors", "--report-file", REPORT];
    const r = await run("nsenter", [...inHost, ...audit], timeoutMs);
    const report = (await run("nsenter", [...inHost, "cat", REPORT], 60e3)).stdout;
    const index = /^hardening_index=(\d+)$/m.exec(report);
    if (r.code !== 0 || !index) throw new Error(`${host.name}: lynis exited ${r.code} without a hardening index`);
    const findings = [...report.matchAll(/^(?:suggestion|warning)\[\]=([A-Z]+-[0-9]+)\|/gm)].map((m) => m[1]);
    return { index: Number(index[1]), findings: [...new Set(findings)], seconds: Math.round((Date.now() - t) / 1000) };
}
