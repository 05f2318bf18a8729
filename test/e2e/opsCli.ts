// `npm run ops` against the local stack, as an operator would run it: from the internet side (the client
// namespace), with the stack's outputs in a file, an operator key listed in operatorSshKeys, and its own
// per-stack known_hosts (accept-new on first sight of each droplet).
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ROOT } from "../support/files";
import { CLIENT_NS, DATA_DIR } from "./engine/topology";
import type { Scenario } from "./scenario";

const OPS_DIR = path.join(DATA_DIR, "ops");
const KEY = path.join(OPS_DIR, "operator_key");
/** ssh_config and known_hosts: the topology numbers droplets from 400000001 in every run, with new host keys. */
const STATE_DIR = path.join(OPS_DIR, "state");

/** Forgets the host keys of an earlier run (a real droplet id never comes back; the topology's do). */
export function freshOpsState(): void {
    fs.rmSync(STATE_DIR, { recursive: true, force: true });
}

/** The operator's key pair (made once per run); the public line goes into operatorSshKeys. */
export function operatorKey(): { file: string; publicKey: string } {
    if (!fs.existsSync(KEY)) {
        fs.mkdirSync(OPS_DIR, { recursive: true, mode: 0o700 });
        const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "e2e-operator", "-f", KEY]);
        if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
    }
    return { file: KEY, publicKey: fs.readFileSync(`${KEY}.pub`, "utf8").trim() };
}

/** The scenario's config for a bundle, with the operator key (and a recorded rollback, when given). */
export function opsConfig(s: Scenario, extra: Record<string, string> = {}): Record<string, string> {
    return {
        ...s.config(s.bundles.v2, { E2E_MARK: "step6" }),
        operatorSshKeys: JSON.stringify([operatorKey().publicKey]),
        ...extra,
    };
}

export interface OpsRun {
    code: number;
    stdout: string;
    stderr: string;
    ms: number;
}

/** Runs `npm run ops -- <args>` (ts-node, as the npm script does) against the latest outputs. */
export async function ops(s: Scenario, args: string[], timeoutMs = 5 * 60e3): Promise<OpsRun> {
    return startOps(s, args, timeoutMs).done;
}

/**
 * `npm run ops -- <args>` started in a process group of its own (ts-node and its ssh clients), so that a
 * step can kill all of it at once, as a dropped laptop would: `kill()` sends SIGKILL to that group.
 */
export function startOps(s: Scenario, args: string[], timeoutMs = 5 * 60e3): { done: Promise<OpsRun>; kill(): void } {
    fs.mkdirSync(OPS_DIR, { recursive: true, mode: 0o700 });
    const outputs = path.join(OPS_DIR, "outputs.json");
    fs.writeFileSync(outputs, JSON.stringify(s.outputs ?? {}), { mode: 0o600 });
    const [command, ...rest] = args;
    const dashes = rest.indexOf("--");
    const options = ["--stack", "e2e", "--outputs", outputs, "--identity", KEY, "--state-dir", STATE_DIR];
    const argv =
        dashes >= 0
            ? [command, ...rest.slice(0, dashes), ...options, ...rest.slice(dashes)]
            : [command, ...rest, ...options];
    const entry = path.join(ROOT, "scripts", "ops.ts");
    const node = [process.execPath, "-r", "ts-node/register/transpile-only", entry, ...argv];
    const t = Date.now();
    const child = spawn("ip", ["netns", "exec", CLIENT_NS, ...node], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
        detached: true,
    });
    const kill = () => {
        if (child.pid !== undefined && child.exitCode === null && child.signalCode === null)
            process.kill(-child.pid, "SIGKILL");
    };
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(kill, timeoutMs);
    const done = new Promise<number>((resolve) => child.on("close", (c) => resolve(c ?? 255))).then((code) => {
        clearTimeout(timer);
        s.log(`ops ${args.join(" ")}: exit ${code} in ${Date.now() - t} ms`);
        return { code, stdout, stderr, ms: Date.now() - t };
    });
    return { done, kill };
}
