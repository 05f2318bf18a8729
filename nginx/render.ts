import * as fs from "fs";
import * as path from "path";
import Mustache from "mustache";

/** One app droplet as the balancer sees it (private IP, app port). */
export interface LbPeer {
    ip: string;
    port: number;
}

/** Active health check (the stack's healthCheck*); `host` is the Host header of http probes. */
export interface LbHealthCheck {
    path: string;
    intervalMs: number;
    rise: number;
    fall: number;
    timeoutMs: number;
    type: "http" | "tcp";
    host: string;
}

/** Everything the rendered tree depends on. Same templates for production, local runs and tests (views.ts). */
export interface LbView {
    /** App peers in host order (the status page's index). */
    peers: LbPeer[];
    healthCheck: LbHealthCheck;
    stickiness: "ip" | "cookie";
    /** Proxies in front of the LB whose X-Forwarded-For is believed (0: none). */
    trustedProxyCount: number;
    /**
     * Addresses of those proxies. Only used when trustedProxyCount > 0; defaults to any address, which
     * trusts exactly one hop (the rightmost X-Forwarded-For entry). More than one hop needs the list.
     */
    realIpFrom?: string[];
    serverName: string;
    /** Paths on the host; the private key stays outside the pushed tree. */
    tls: { certificate: string; privateKey: string; selfSigned: boolean };
    /**
     * Addresses that count as the LB itself for the admin API besides 127.0.0.1 and ::1 (its private IP).
     * Other 127.x addresses do not, so tests can stand in for app hosts on loopback.
     */
    adminSelf?: string[];
    /** CIDRs allowed to read /check-status (loopback, the VPC, adminCidrs). */
    statusAllow: string[];
    /** `address` unset: all IPv4 addresses. */
    listen: { address?: string; http: number; https: number; admin: number };
    /** `prefix` is where the tree is installed; every include is absolute under it. */
    paths: { prefix: string; pid: string; errorLog: string; accessLog: string; temp: string };
    acmeWebroot: string;
    /** `user` directive (production: www-data); leave unset for unprivileged or test runs. */
    user?: string;
    workerProcesses?: number | "auto";
    /** worker_rlimit_nofile (production: 65536); unset keeps the inherited limit. */
    workerRlimitNofile?: number;
    /** Debian's module directory. */
    modulesDir?: string;
}

export const STICKY_COOKIE = "mdo_sticky";

const TEMPLATE_DIR = __dirname;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const CIDR =
    /^((25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}(\/(3[0-2]|[12]?\d))?|[0-9a-fA-F:]*:[0-9a-fA-F:]*(\/(12[0-8]|1[01]\d|\d?\d))?)$/;
// Values end up inside nginx directives and Lua strings: allow no quotes, spaces, ; { } or backslashes.
const SAFE_PATH = /^\/[A-Za-z0-9._\/-]*$/;
const URL_PATH = /^\/[A-Za-z0-9._~!$&()*+,=:@%\/?-]*$/;
const HOST = /^[A-Za-z0-9.-]+(:\d+)?$/;

function check(ok: boolean, message: string): void {
    if (!ok) throw new Error(message);
}

function port(n: number, what: string): void {
    check(Number.isInteger(n) && n > 0 && n < 65536, `${what} must be a TCP port, got ${n}`);
}

function validate(v: LbView): void {
    check(v.peers.length > 0, "peers must list at least one app host");
    const seen = new Set<string>();
    for (const p of v.peers) {
        check(IPV4.test(p.ip), `peer ip must be an IPv4 address, got "${p.ip}"`);
        port(p.port, "peer port");
        const name = `${p.ip}:${p.port}`;
        check(!seen.has(name), `peer ${name} is listed twice`);
        seen.add(name);
    }
    const hc = v.healthCheck;
    check(hc.type === "http" || hc.type === "tcp", `healthCheck.type must be "http" or "tcp", got "${hc.type}"`);
    check(URL_PATH.test(hc.path), `healthCheck.path must be an absolute URL path, got "${hc.path}"`);
    check(HOST.test(hc.host), `healthCheck.host must be a host name, got "${hc.host}"`);
    for (const k of ["intervalMs", "timeoutMs", "rise", "fall"] as const) {
        check(Number.isInteger(hc[k]) && hc[k] > 0, `healthCheck.${k} must be a positive integer, got ${hc[k]}`);
    }
    check(
        v.stickiness === "ip" || v.stickiness === "cookie",
        `stickiness must be "ip" or "cookie", got "${v.stickiness}"`,
    );
    check(
        Number.isInteger(v.trustedProxyCount) && v.trustedProxyCount >= 0,
        `trustedProxyCount must be a non-negative integer, got ${v.trustedProxyCount}`,
    );
    if (v.trustedProxyCount > 1) {
        check(
            (v.realIpFrom ?? []).length > 0,
            "trustedProxyCount > 1 needs realIpFrom (the proxies' CIDRs): without them only one hop can be trusted safely",
        );
    }
    for (const a of v.adminSelf ?? []) check(IPV4.test(a), `adminSelf entries must be IPv4 addresses, got "${a}"`);
    for (const c of [...(v.realIpFrom ?? []), ...v.statusAllow]) {
        check(CIDR.test(c), `"${c}" is not an IP address or CIDR`);
    }
    check(HOST.test(v.serverName) || v.serverName === "_", `serverName must be a host name, got "${v.serverName}"`);
    for (const [k, p] of Object.entries({
        ...v.paths,
        certificate: v.tls.certificate,
        privateKey: v.tls.privateKey,
        acmeWebroot: v.acmeWebroot,
    })) {
        check(SAFE_PATH.test(p), `${k} must be an absolute path of [A-Za-z0-9._/-], got "${p}"`);
    }
    check(!v.paths.prefix.endsWith("/"), "paths.prefix must not end with /");
    if (v.listen.address !== undefined)
        check(IPV4.test(v.listen.address), `listen.address must be IPv4, got "${v.listen.address}"`);
    port(v.listen.http, "listen.http");
    port(v.listen.https, "listen.https");
    port(v.listen.admin, "listen.admin");
    check(new Set([v.listen.http, v.listen.https, v.listen.admin]).size === 3, "listen ports must differ");
    if (v.user !== undefined) check(/^[a-z_][a-z0-9_-]*$/.test(v.user), `user must be a user name, got "${v.user}"`);
}

/** Template files (relative to nginx/) -> rendered names; plain Lua modules are copied as they are. */
function sources(): { rel: string; out: string; template: boolean }[] {
    const out: { rel: string; out: string; template: boolean }[] = [];
    const walk = (dir: string) => {
        for (const e of fs.readdirSync(path.join(TEMPLATE_DIR, dir), { withFileTypes: true })) {
            const rel = dir ? `${dir}/${e.name}` : e.name;
            if (e.isDirectory()) walk(rel);
            else if (rel.endsWith(".mustache"))
                out.push({ rel, out: rel.slice(0, -".mustache".length), template: true });
            else if (rel.startsWith("lua/") && rel.endsWith(".lua")) out.push({ rel, out: rel, template: false });
        }
    };
    walk("");
    return out.sort((a, b) => a.out.localeCompare(b.out));
}

/**
 * Renders the nginx tree for a view: relative path -> file content. Pure (the templates are files beside
 * this one); the same view always gives the same files, so their hash is a push trigger.
 */
export function renderNginx(view: LbView): Record<string, string> {
    validate(view);
    const trust = view.trustedProxyCount > 0;
    const explicitRealIp = (view.realIpFrom ?? []).length > 0;
    const model = {
        ...view,
        user: view.user,
        workerProcesses: view.workerProcesses ?? "auto",
        modulesDir: view.modulesDir ?? "/usr/lib/nginx/modules",
        cookieName: STICKY_COOKIE,
        adminSelf: ["127.0.0.1", "::1", ...(view.adminSelf ?? [])],
        trustForwardedFor: trust,
        cookieStickiness: view.stickiness === "cookie",
        realIpFrom: trust ? (explicitRealIp ? view.realIpFrom : ["0.0.0.0/0", "::/0"]) : [],
        realIpRecursive: explicitRealIp ? "on" : "off",
        listenAddrs: [view.listen.address ?? "0.0.0.0"],
        httpsPortSuffix: view.listen.https === 443 ? "" : `:${view.listen.https}`,
    };
    const files: Record<string, string> = {};
    for (const s of sources()) {
        const text = fs.readFileSync(path.join(TEMPLATE_DIR, s.rel), "utf8");
        // Escaping off: mustache would turn "/" into "&#x2F;" in paths.
        files[s.out] = s.template ? Mustache.render(text, model, {}, { escape: (x: string) => String(x) }) : text;
    }
    // lb-push.sh checks this against where it installs the tree, and rewrites it for its trial start.
    files["PREFIX"] = `${view.paths.prefix}\n`;
    return files;
}
