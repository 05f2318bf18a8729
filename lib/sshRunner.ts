// The thin part that runs things on the hosts (`npm run ops`, the LB droplets' handover hooks): OpenSSH with
// the stack's ssh_config (ssh.ts).
import { spawn } from "child_process";
import * as fs from "fs";
import { pinnedKnownHosts, sshArgv, sshConfig, SshConfigOptions, sshFiles, SshFiles, SshTarget } from "./ssh";

export interface Result {
    code: number;
    stdout: string;
    stderr: string;
}

/** Children get this process's environment as the code sees it (ssh-agent's socket, PATH). */
export class Runner<T extends SshTarget = SshTarget> {
    readonly files: SshFiles;

    constructor(
        readonly target: T,
        o: { stateDir?: string; identity?: string },
    ) {
        this.files = sshFiles(target.stack, o.stateDir);
        fs.mkdirSync(this.files.dir, { recursive: true, mode: 0o700 });
        const pinned = pinnedKnownHosts(target);
        if (pinned !== undefined) fs.writeFileSync(this.files.knownHosts, pinned, { mode: 0o600 });
        const config: SshConfigOptions = {
            knownHosts: this.files.knownHosts,
            identity: o.identity,
            hostKeyPolicy: pinned === undefined ? "accept-new" : "pinned",
        };
        fs.writeFileSync(this.files.config, sshConfig(target, config), { mode: 0o600 });
    }

    /** Runs `command` on `host` (an ssh_config name: lb, app-1, ...), collecting its output. */
    run(host: string, command: string, timeoutMs = 10 * 60e3): Promise<Result> {
        const [cmd, ...args] = sshArgv(this.files.config, host, command);
        return new Promise((resolve) => {
            const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: process.env });
            let stdout = "";
            let stderr = "";
            child.stdout.on("data", (d) => (stdout += d));
            child.stderr.on("data", (d) => (stderr += d));
            const timer = setTimeout(() => child.kill("SIGTERM"), timeoutMs);
            child.on("error", (e) => (stderr += `${e.message}\n`));
            child.on("close", (code, signal) => {
                clearTimeout(timer);
                resolve({ code: code ?? (signal ? 128 : 255), stdout, stderr });
            });
        });
    }

    /** Runs `command` on `host`, handing each complete output line to `onLine` as it arrives. */
    stream(host: string, command: string, onLine: (line: string, stream: "out" | "err") => void): Promise<number> {
        const [cmd, ...args] = sshArgv(this.files.config, host, command);
        return new Promise((resolve) => {
            const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: process.env });
            const split = (stream: "out" | "err") => {
                let rest = "";
                return {
                    data: (d: Buffer) => {
                        const lines = (rest + d.toString("utf8")).split("\n");
                        rest = lines.pop() ?? "";
                        for (const l of lines) onLine(l, stream);
                    },
                    end: () => rest && onLine(rest, stream),
                };
            };
            const out = split("out");
            const err = split("err");
            child.stdout.on("data", out.data);
            child.stderr.on("data", err.data);
            child.on("error", (e) => onLine(e.message, "err"));
            child.on("close", (code, signal) => {
                out.end();
                err.end();
                resolve(code ?? (signal ? 128 : 255));
            });
        });
    }

    /** An interactive session on `host` with this terminal; resolves with ssh's exit code. */
    interactive(host: string, command?: string): Promise<number> {
        const [cmd, ...args] = sshArgv(this.files.config, host, command, true);
        return new Promise((resolve) => {
            const child = spawn(cmd, args, { stdio: "inherit", env: process.env });
            child.on("error", () => resolve(255));
            child.on("close", (code) => resolve(code ?? 255));
        });
    }
}
