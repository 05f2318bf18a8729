// OpenSSH from the client namespace, as pulumi-command's remote Commands connect: the resource's own
// connection (host, port, user, private key in a 0600 file, the pinned `hostKey` as the only known host
// key, `proxy` as a ProxyCommand `ssh -W` hop),
// dial errors retried up to dialErrorLimit with perDialTimeout, environment sent as SSH env requests.
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { killPid } from "../../support/processes";
import { sleep } from "../../support/wait";
import { CLIENT_NS } from "./topology";

export interface Connection {
    host: string;
    port?: number;
    user?: string;
    privateKey: string;
    /** The host key to accept (`ssh-ed25519 AAAA...`), as pulumi-command checks it; unset: any. */
    hostKey?: string;
    proxy?: Connection;
    perDialTimeout?: number;
    dialErrorLimit?: number;
}

export interface Exec {
    code: number;
    stdout: string;
    stderr: string;
}

/** Runs argv inside a network namespace the test made; stdin piped, bounded in time. */
export function runIn(
    netns: string,
    argv: string[],
    stdin?: string,
    env: Record<string, string> = {},
    timeoutMs = 60e3,
): Promise<Exec> {
    return new Promise((resolve) => {
        const child = spawn("ip", ["netns", "exec", netns, ...argv], {
            env: { ...process.env, ...env },
            stdio: ["pipe", "pipe", "pipe"],
        });
        let stdout = "",
            stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => killPid(child.pid), timeoutMs);
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve({ code: code ?? (signal ? 128 : 255), stdout, stderr });
        });
        child.stdin.on("error", () => {
            /* remote closed stdin early */
        });
        child.stdin.end(stdin ?? "");
    });
}

function isDialError(stderr: string): boolean {
    return /Connection refused|Connection timed out|Host key verification failed|No route to host|Connection closed|Connection reset|kex_exchange_identification|Permission denied|Could not resolve|Network is unreachable|port 22:/.test(
        stderr,
    );
}

/** An SSH client whose private keys live as 0600 files in `keyDir` (removed with it). */
export class SshClient {
    constructor(private readonly keyDir: string) {}

    /** Runs a script the way a remote Command does; a non-zero exit is returned, not thrown. */
    run(name: string, connection: Connection, script: string, stdin?: string, environment?: Record<string, string>) {
        const env = environment ?? {};
        for (const k of Object.keys(env))
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`Command ${name}: bad env name ${k}`);
        return this.withConnection(
            connection,
            (opts, dest) => ["ssh", ...opts, ...Object.keys(env).flatMap((k) => ["-o", `SendEnv=${k}`]), dest, script],
            stdin,
            env,
        );
    }

    /** Copies a local file the way CopyToRemote does (scp, whose port flag is -P). */
    copy(connection: Connection, local: string, remotePath: string): Promise<Exec> {
        return this.withConnection(connection, (opts, dest) => [
            "scp",
            "-q",
            ...opts.map((o) => (o === "-p" ? "-P" : o)),
            local,
            `${dest}:${remotePath}`,
        ]);
    }

    /** Runs an OpenSSH client in the client namespace, retrying dial errors as pulumi-command does. */
    private async withConnection(
        connection: Connection,
        argv: (opts: string[], dest: string) => string[],
        stdin?: string,
        env: Record<string, string> = {},
    ): Promise<Exec> {
        if (!connection?.host || !connection.privateKey) throw new Error("connection needs host and privateKey");
        const perDial = Number(connection.perDialTimeout ?? 15);
        const limit = Number(connection.dialErrorLimit ?? 10);
        // INFO, not ERROR: OpenSSH reports a connection the server closed before the session began ("Connection
        // closed by ...", a dial error pulumi-command retries) only at INFO, and exits 255 silently below it. The
        // proxy hop stays at ERROR: at INFO it prints "Killed by signal 1." when each session ends.
        const opts = this.options(connection, perDial, "INFO");
        if (connection.proxy) {
            const p = connection.proxy;
            const proxyOpts = this.options(p, Number(p.perDialTimeout ?? perDial), "ERROR").join(" ");
            opts.push("-o", `ProxyCommand=ssh ${proxyOpts} -W %h:%p ${p.user ?? "root"}@${p.host}`);
        }
        const dest = `${connection.user ?? "root"}@${connection.host}`;
        const attempts = limit < 0 ? 120 : Math.max(1, limit);
        let last: Exec = { code: 255, stdout: "", stderr: "" };
        for (let i = 0; i < attempts; i++) {
            last = await runIn(CLIENT_NS, argv(opts, dest), stdin, env, 15 * 60e3);
            if (!(last.code === 255 && isDialError(last.stderr))) return last;
            await sleep(1000);
        }
        return { ...last, stderr: `after ${attempts} failed dial attempts: ${last.stderr}` };
    }

    private options(c: Connection, perDial: number, logLevel: "INFO" | "ERROR"): string[] {
        const keyFile = path.join(
            this.keyDir,
            `id-${crypto.createHash("sha256").update(String(c.privateKey)).digest("hex").slice(0, 16)}`,
        );
        if (!fs.existsSync(keyFile))
            fs.writeFileSync(keyFile, String(c.privateKey).replace(/\n?$/, "\n"), { mode: 0o600 });
        // With a hostKey only that key is accepted, as pulumi-command does (a known_hosts of one line).
        let knownHosts = "/dev/null";
        if (c.hostKey) {
            const entry = `${(c.port ?? 22) === 22 ? c.host : `[${c.host}]:${c.port}`} ${c.hostKey.trim()}\n`;
            const id = crypto.createHash("sha256").update(entry).digest("hex").slice(0, 16);
            knownHosts = path.join(this.keyDir, `known-${id}`);
            if (!fs.existsSync(knownHosts)) fs.writeFileSync(knownHosts, entry, { mode: 0o600 });
        }
        return [
            "-i",
            keyFile,
            "-p",
            String(c.port ?? 22),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            `StrictHostKeyChecking=${c.hostKey ? "yes" : "no"}`,
            "-o",
            `UserKnownHostsFile=${knownHosts}`,
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            `LogLevel=${logLevel}`,
            "-o",
            `ConnectTimeout=${perDial}`,
        ];
    }
}
