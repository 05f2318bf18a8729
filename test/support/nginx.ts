// The LB on loopback: real backend processes (backend.js, static-backend.js), a rendered tree run by
// Debian's nginx in the foreground, and the JSON its admin API and status page answer. Used by the nginx,
// host and letsencrypt suites and by bench/.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { LbView, renderNginx } from "../../nginx/render";
import { localView } from "../../nginx/views";
import { selfSignedCert } from "./certs";
import { removeTempDirs, writeTree } from "./files";
import { request } from "./http";
import { portOpen } from "./ports";
import { stopTracked, track } from "./processes";
import { waitFor } from "./wait";

export const NGINX = "/usr/sbin/nginx";

/** Stops every process started through track() (by PID) and removes the temp dirs. */
export async function stopAll(): Promise<void> {
    await stopTracked();
    removeTempDirs();
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
    const proc = track(
        spawn(process.execPath, [path.join(__dirname, script), ip, String(port)], {
            stdio: ["ignore", "pipe", "inherit"],
            env: { ...process.env, ...env },
        }),
    );
    await waitFor(`backend ${ip}:${port}`, () => portOpen(ip, port), 10000, 20);
    return { ip, port, name: `${ip}:${port}`, proc };
}

export interface Ports {
    http: number;
    https: number;
    admin: number;
}

/** A loopback view with fast checks (300 ms, rise 2, fall 2) unless overridden. */
export function loopbackView(
    dir: string,
    peers: { ip: string; port: number; host?: string }[],
    ports: Ports,
    over: Partial<LbView> = {},
): LbView {
    const tls = fs.existsSync(path.join(dir, "cert.pem"))
        ? { certificate: path.join(dir, "cert.pem"), privateKey: path.join(dir, "key.pem") }
        : selfSignedCert(dir);
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

export interface Lb {
    proc: ChildProcess;
    view: LbView;
    conf: string;
}

/** Starts nginx in the foreground on a config file; resolves once the admin API answers. */
export async function startNginxConf(conf: string, adminPort: number): Promise<ChildProcess> {
    const proc = track(spawn(NGINX, ["-c", conf, "-g", "daemon off;"], { stdio: ["ignore", "inherit", "inherit"] }));
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

/** GET /lb/peers/NAME and each entry of GET /lb/peers on the admin API. */
export interface PeerState {
    name: string;
    /** The droplet's name, when the view gave one. */
    host: string | null;
    status: "up" | "down";
    draining: boolean;
    /** What the host reported with its last drain/undrain. */
    release: string | null;
    node: string | null;
}

/** One row of the status page (`/check-status?format=json`): the check module's fields, then ours. */
export interface StatusRow {
    index: number;
    name: string;
    status: "up" | "down";
    rise: number;
    fall: number;
    type: string;
    port: number;
    upstream: string;
    host: string | null;
    draining: boolean;
    release: string | null;
    node: string | null;
    /** Epoch seconds (null: not known yet). */
    since: number | null;
    check_ms: number | null;
    checked_at: number | null;
    last_error: string | null;
    last_error_at: number | null;
    connections: number | null;
}

/** GET /lb/peers on the admin API. */
export interface PeerList {
    peers: PeerState[];
}

export interface StatusPage {
    servers: { total: number; generation: number; server: StatusRow[] };
    lb: {
        time: number;
        release: string | null;
        generation: number;
        certificate: { path: string; not_after: number | null; days_left: number | null };
    };
}

/** What backend.js answers to any other request: who it is and what it received. */
export interface BackendEcho {
    backend: string;
    url: string;
    headers: Record<string, string | undefined>;
    remoteAddress: string;
}

/** Peer status from the admin API. */
export async function peerStatus(adminPort: number, name: string): Promise<PeerState> {
    return (await request<PeerState>({ url: `http://127.0.0.1:${adminPort}/lb/peers/${name}` })).json;
}

/** The status page's rows, from the admin listener. */
export async function statusRows(adminPort: number): Promise<StatusRow[]> {
    const r = await request<StatusPage>({ url: `http://127.0.0.1:${adminPort}/check-status?format=json` });
    return r.json.servers.server;
}

/** Which backend answers each client address (one request per client, fresh connections). */
export async function mapClients(httpsPort: number, clients: string[]): Promise<Map<string, string>> {
    const m = new Map<string, string>();
    for (const c of clients) {
        const r = await request<BackendEcho>({ url: `https://127.0.0.1:${httpsPort}/who`, localAddress: c });
        if (r.status !== 200) throw new Error(`client ${c} got ${r.status}`);
        m.set(c, r.json.backend);
    }
    return m;
}

export const clientAddrs = (n: number, from = 100) => Array.from({ length: n }, (_, i) => `127.0.0.${from + i}`);
