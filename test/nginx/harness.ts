// Shared pieces of the nginx suite: real backend processes, a rendered tree run by Debian's nginx on
// loopback, and small HTTP helpers that pick the client's 127.0.0.x source address.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { LbView, renderNginx } from "../../nginx/render";
import { localView } from "../../nginx/views";

export const ROOT = path.resolve(__dirname, "../..");
export const NGINX = "/usr/sbin/nginx";

const dirs: string[] = [];

export function tempDir(tag: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `meteor-do-${tag}-`));
    // nginx workers run as nobody when the master is root and no `user` is set: let them read files here.
    fs.chmodSync(dir, 0o755);
    dirs.push(dir);
    return dir;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(
    what: string,
    fn: () => Promise<T | undefined | false>,
    timeoutMs: number,
    everyMs = 50,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
        try {
            const v = await fn();
            if (v) return v;
        } catch (e) {
            last = e;
        }
        await sleep(everyMs);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
}

export function portOpen(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host, port });
        s.once("connect", () => {
            s.destroy();
            resolve(true);
        });
        s.once("error", () => resolve(false));
    });
}

/** Processes this suite started; stopped by PID in afterAll. */
const started = new Set<ChildProcess>();

/** Stops every process this suite started (by PID) and removes its temp dirs. */
export async function stopAll(): Promise<void> {
    await Promise.all([...started].map((p) => stop(p)));
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export function stop(p: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    started.delete(p);
    if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
        const t = setTimeout(() => {
            try {
                process.kill(p.pid!, "SIGKILL");
            } catch {
                /* gone */
            }
        }, 5000);
        p.once("exit", () => {
            clearTimeout(t);
            resolve();
        });
        try {
            process.kill(p.pid!, signal);
        } catch {
            clearTimeout(t);
            resolve();
        }
    });
}

export interface Backend {
    ip: string;
    port: number;
    name: string;
    proc: ChildProcess;
}

export async function startBackend(
    ip: string,
    port: number,
    script = "backend.js",
    env: Record<string, string> = {},
): Promise<Backend> {
    const proc = spawn(process.execPath, [path.join(__dirname, script), ip, String(port)], {
        stdio: ["ignore", "pipe", "inherit"],
        env: { ...process.env, ...env },
    });
    started.add(proc);
    await waitFor(`backend ${ip}:${port}`, () => portOpen(ip, port), 10000, 20);
    return { ip, port, name: `${ip}:${port}`, proc };
}

export function makeCert(dir: string, cn = "lb.test"): { certificate: string; privateKey: string } {
    const certificate = path.join(dir, "cert.pem");
    const privateKey = path.join(dir, "key.pem");
    execFileSync(
        "openssl",
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            privateKey,
            "-out",
            certificate,
            "-days",
            "2",
            "-subj",
            `/CN=${cn}`,
            "-addext",
            `subjectAltName=DNS:${cn},IP:127.0.0.1`,
        ],
        { stdio: "ignore" },
    );
    fs.chmodSync(privateKey, 0o600);
    return { certificate, privateKey };
}

export interface Ports {
    http: number;
    https: number;
    admin: number;
}

/** A loopback view with fast checks (300 ms, rise 2, fall 2) unless overridden. */
export function loopbackView(
    dir: string,
    peers: { ip: string; port: number }[],
    ports: Ports,
    over: Partial<LbView> = {},
): LbView {
    const tls = fs.existsSync(path.join(dir, "cert.pem"))
        ? { certificate: path.join(dir, "cert.pem"), privateKey: path.join(dir, "key.pem") }
        : makeCert(dir);
    for (const d of ["tmp", "acme", "logs"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
    return {
        ...localView({
            dir,
            peers,
            listen: { address: "127.0.0.1", ...ports },
            tls,
            serverName: "lb.test",
            healthCheck: { path: "/healthz", intervalMs: 300, timeoutMs: 500 },
            statusAllow: ["127.0.0.1/32", "10.10.0.0/16"],
        }),
        ...over,
    };
}

export function writeTree(root: string, files: Record<string, string>): void {
    fs.rmSync(root, { recursive: true, force: true });
    for (const [rel, text] of Object.entries(files)) {
        const f = path.join(root, rel);
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, text);
    }
}

export interface Lb {
    proc: ChildProcess;
    view: LbView;
    conf: string;
}

/** Starts nginx in the foreground on a config file; resolves once the admin API answers. */
export async function startNginxConf(conf: string, adminPort: number): Promise<ChildProcess> {
    const proc = spawn(NGINX, ["-c", conf, "-g", "daemon off;"], { stdio: ["ignore", "inherit", "inherit"] });
    started.add(proc);
    await waitFor(
        "nginx admin API",
        async () => {
            if (proc.exitCode !== null) throw new Error(`nginx exited with ${proc.exitCode}`);
            return (await request({ url: `http://127.0.0.1:${adminPort}/lb/peers` })).status === 200;
        },
        10000,
    );
    return proc;
}

export async function startLb(view: LbView): Promise<Lb> {
    writeTree(view.paths.prefix, renderNginx(view));
    const conf = path.join(view.paths.prefix, "nginx.conf");
    const proc = await startNginxConf(conf, view.listen.admin);
    return { proc, view, conf };
}

export interface Reply {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
    json?: any;
}

/** One request on a fresh connection (so `localAddress` picks the client's address every time). */
export function request(o: {
    url: string;
    method?: string;
    localAddress?: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
}): Promise<Reply> {
    const u = new URL(o.url);
    const mod = u.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
        const req = mod.request(
            u,
            {
                method: o.method ?? "GET",
                localAddress: o.localAddress,
                headers: o.headers,
                agent: false,
                rejectUnauthorized: false,
                timeout: o.timeoutMs ?? 5000,
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c) => chunks.push(c));
                res.on("end", () => {
                    const body = Buffer.concat(chunks).toString();
                    let json: any;
                    try {
                        json = JSON.parse(body);
                    } catch {
                        /* not JSON */
                    }
                    resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error("request timed out")));
        req.on("error", reject);
        req.end();
    });
}

/** Peer status from the admin API. */
export async function peerStatus(adminPort: number, name: string): Promise<{ status: string; draining: boolean }> {
    return (await request({ url: `http://127.0.0.1:${adminPort}/lb/peers/${name}` })).json;
}

/** Which backend answers each client address (one request per client, fresh connections). */
export async function mapClients(httpsPort: number, clients: string[]): Promise<Map<string, string>> {
    const m = new Map<string, string>();
    for (const c of clients) {
        const r = await request({ url: `https://127.0.0.1:${httpsPort}/who`, localAddress: c });
        if (r.status !== 200) throw new Error(`client ${c} got ${r.status}`);
        m.set(c, r.json.backend);
    }
    return m;
}

export const clientAddrs = (n: number, from = 100) => Array.from({ length: n }, (_, i) => `127.0.0.${from + i}`);
