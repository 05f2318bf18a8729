// What both Let's Encrypt suites do to one LB on loopback: the environment letsencrypt.sh and write-tls.sh
// run with, and the program's steps before the nginx push (write-tls.sh with the stack's self-signed pair,
// then letsencrypt.sh prepare).
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { hostTool } from "../support/hostTools";
import { LbView } from "../../nginx/render";

export interface ToolRun {
    code: number;
    /** stdout and stderr interleaved as the tool wrote them (its last line is what an operator reads). */
    out: string;
}

/** Runs a command with `env`; bounded by a timeout, killed by PID. */
export function runTool(env: NodeJS.ProcessEnv, cmd: string, args: string[], stdin = "", timeoutMs = 60_000) {
    return new Promise<ToolRun>((resolve) => {
        const p: ChildProcess = spawn(cmd, args, { env, stdio: ["pipe", "pipe", "pipe"] });
        let out = "";
        p.stdout!.on("data", (c) => (out += c));
        p.stderr!.on("data", (c) => (out += c));
        const t = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
        p.on("close", (code) => {
            clearTimeout(t);
            resolve({ code: code ?? -1, out });
        });
        p.stdin!.end(stdin);
    });
}

/** One LB's TLS and certbot directories, its nginx, and certbot trusting pebble's API. */
export function certbotEnv(view: LbView, o: { tlsDir: string; leDir: string; caBundle: string }): NodeJS.ProcessEnv {
    return {
        ...process.env,
        TLS_DIR: o.tlsDir,
        ACME_WEBROOT: view.acmeWebroot,
        TLS_NO_RELOAD: "1",
        LE_CONFIG_DIR: path.join(o.leDir, "config"),
        LE_WORK_DIR: path.join(o.leDir, "work"),
        LE_LOGS_DIR: path.join(o.leDir, "logs"),
        NGINX_CONF: path.join(view.paths.prefix, "nginx.conf"),
        LB_SERVICE: "direct",
        LE_TIMER: "0",
        REQUESTS_CA_BUNDLE: o.caBundle,
    };
}

/** The self-signed pair loopbackView wrote into `dir`, as write-tls.sh takes it on stdin. */
export const selfSignedPair = (dir: string) =>
    fs.readFileSync(path.join(dir, "key.pem"), "utf8") + fs.readFileSync(path.join(dir, "cert.pem"), "utf8");

/** What the program does before the nginx push: write-tls.sh, then prepare. Throws naming the step that failed. */
export async function prepareLb(env: NodeJS.ProcessEnv, dir: string, domain: string, label = "the LB") {
    for (const [tool, args, stdin] of [
        ["write-tls.sh", [], selfSignedPair(dir)],
        ["letsencrypt.sh", ["prepare", domain], ""],
    ] as const) {
        const r = await runTool(env, "bash", [hostTool(tool), ...args], stdin);
        if (r.code !== 0) throw new Error(`${tool} ${args.join(" ")} failed on ${label}: ${r.out}`);
    }
}
