import * as fs from "fs";
import * as path from "path";
import Mustache from "mustache";
import { HealthCheck, healthCheckTypes, Stickiness, stickinessModes } from "../lib/types";
import { assertRule, isCidr, isIp, isIpv4, isNarrowCidr, Rule, rules } from "../lib/validate";

/** One app droplet as the balancer sees it (private IP, app port) and, for the status page, its name. */
export interface LbPeer {
    ip: string;
    port: number;
    /** The droplet's name. */
    host?: string;
}

/** Active health check (the stack's healthCheck*); `host` is the Host header of http probes. */
export interface LbHealthCheck extends HealthCheck {
    host: string;
}

/** Everything the rendered tree depends on. Same templates for production, local runs and tests (views.ts). */
export interface LbView {
    /** App peers in host order (the status page's index). */
    peers: LbPeer[];
    healthCheck: LbHealthCheck;
    stickiness: Stickiness;
    /** Proxies in front of the LB whose X-Forwarded-For is believed (0: none). */
    trustedProxyCount: number;
    /**
     * Addresses of those proxies, required when trustedProxyCount > 0: only a connection from one of them
     * may set the client address through X-Forwarded-For; anyone else's header is replaced.
     */
    realIpFrom?: string[];
    /** Strict-Transport-Security max-age on HTTPS responses; unset or 0: no header (self-signed). */
    hstsMaxAge?: number;
    /** Per client address on the public ports; unset or 0: no limit. */
    limits?: { connectionsPerIp: number; requestsPerSecondPerIp: number };
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
    /**
     * `address` unset: all IPv4 addresses. `adminAddresses`: where the admin port listens instead of
     * `address` (production: loopback and the LB's private address, never the public one).
     */
    listen: { address?: string; adminAddresses?: string[]; http: number; https: number; admin: number };
    /** `prefix` is where the tree is installed; every include is absolute under it. */
    paths: { prefix: string; pid: string; errorLog: string; accessLog: string; temp: string };
    acmeWebroot: string;
    /**
     * lbCount 2: the other LB's HTTP server (`privateIp:80`), asked for an ACME challenge this LB's webroot
     * does not hold (its certbot's), since the challenge reaches whichever LB holds the reserved IP.
     */
    acmePeer?: string;
    /**
     * lbCount 2: this LB's droplet name and the file keepalived's notify writes its role to (active,
     * standby, fault): the status page says which LB answered and its role.
     */
    failover?: { name: string; roleFile: string };
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
// Values end up inside nginx directives and Lua strings: allow no quotes, spaces, ; { } or backslashes.
const SAFE_PATH = /^\/[A-Za-z0-9._/-]*$/;
/** Addresses the status page and real-IP module take: CIDRs as config takes them, or single addresses. */
const addressRule: Rule<string> = {
    ok: (v) => isCidr(v) || isIp(v),
    allowed: "must be an IP address or a CIDR such as 203.0.113.0/24 or 2001:db8::/48",
};
/** Trusted proxies: single addresses or CIDRs, but not everyone (a /0). */
const narrowAddressRule: Rule<string> = {
    ok: (v) => isIp(v) || isNarrowCidr(v),
    allowed: "must be an IP address or a CIDR such as 203.0.113.0/24 or 2001:db8::/48, not a /0",
};
/** The Host of checks and server_name: config's domain rule, an IPv4 address (the reserved IP), or localhost. */
const hostRule: Rule<string> = {
    ok: (v) => rules.serverName.ok(v) || v === "localhost",
    allowed: "must be a domain name, an IPv4 address or localhost",
};

function check(ok: boolean, message: string): void {
    if (!ok) throw new Error(message);
}

function port(n: number, what: string): void {
    assertRule(rules.port, n, what);
}

/** The parts of a view that come from stack config. */
export type LbStackSettings = Pick<
    LbView,
    "stickiness" | "trustedProxyCount" | "realIpFrom" | "hstsMaxAge" | "limits"
> & {
    healthCheck: HealthCheck;
};

/**
 * Checks the values that come from stack config with config's own rules (lib/validate.ts), so a value
 * config accepts always renders; LbConfig calls it before any Output is known.
 */
export function checkStackSettings(v: LbStackSettings): void {
    const hc = v.healthCheck;
    assertRule(
        { ok: (t) => healthCheckTypes.includes(t), allowed: "must be http or tcp" },
        hc.type,
        "healthCheck.type",
    );
    assertRule(rules.healthCheckPath, hc.path, "healthCheck.path");
    assertRule(rules.healthCheckIntervalMs, hc.intervalMs, "healthCheck.intervalMs");
    assertRule(rules.healthCheckTimeoutMs, hc.timeoutMs, "healthCheck.timeoutMs");
    assertRule(rules.healthCheckRise, hc.rise, "healthCheck.rise");
    assertRule(rules.healthCheckFall, hc.fall, "healthCheck.fall");
    assertRule({ ok: (s) => stickinessModes.includes(s), allowed: "must be ip or cookie" }, v.stickiness, "stickiness");
    assertRule(rules.trustedProxyCount, v.trustedProxyCount, "trustedProxyCount");
    if (v.trustedProxyCount > 0) {
        check(
            (v.realIpFrom ?? []).length > 0,
            "trustedProxyCount > 0 needs realIpFrom (the proxies' CIDRs): without them a client that bypasses the proxies chooses its own address",
        );
    }
    for (const c of v.realIpFrom ?? []) assertRule(narrowAddressRule, c, "realIpFrom entry");
    if (v.hstsMaxAge !== undefined) assertRule(rules.hstsMaxAge, v.hstsMaxAge, "hstsMaxAge");
    if (v.limits !== undefined) {
        assertRule(rules.connectionsPerIp, v.limits.connectionsPerIp, "limits.connectionsPerIp");
        assertRule(rules.requestsPerSecondPerIp, v.limits.requestsPerSecondPerIp, "limits.requestsPerSecondPerIp");
    }
}

function validate(v: LbView): void {
    check(v.peers.length > 0, "peers must list at least one app host");
    const seen = new Set<string>();
    for (const p of v.peers) {
        check(isIpv4(p.ip), `peer ip must be an IPv4 address, got "${p.ip}"`);
        assertRule(rules.appPort, p.port, "peer port");
        assertRule(rules.appPortFree, p.port, "peer port");
        const name = `${p.ip}:${p.port}`;
        check(!seen.has(name), `peer ${name} is listed twice`);
        if (p.host !== undefined) assertRule(rules.dropletName, p.host, "peer host");
        seen.add(name);
    }
    checkStackSettings(v);
    assertRule(hostRule, v.healthCheck.host, "healthCheck.host");
    for (const a of v.adminSelf ?? []) check(isIpv4(a), `adminSelf entries must be IPv4 addresses, got "${a}"`);
    for (const c of v.statusAllow) assertRule(addressRule, c, "statusAllow entry");
    check(
        hostRule.ok(v.serverName) || v.serverName === "_",
        `serverName is ${JSON.stringify(v.serverName)}: ${hostRule.allowed}`,
    );
    for (const [k, p] of Object.entries({
        ...v.paths,
        certificate: v.tls.certificate,
        privateKey: v.tls.privateKey,
        acmeWebroot: v.acmeWebroot,
    })) {
        check(SAFE_PATH.test(p), `${k} must be an absolute path of [A-Za-z0-9._/-], got "${p}"`);
    }
    check(!v.paths.prefix.endsWith("/"), "paths.prefix must not end with /");
    if (v.failover !== undefined) {
        assertRule(rules.dropletName, v.failover.name, "failover.name");
        check(
            SAFE_PATH.test(v.failover.roleFile),
            `failover.roleFile must be an absolute path, got "${v.failover.roleFile}"`,
        );
    }
    if (v.acmePeer !== undefined) {
        const [ip, p] = v.acmePeer.split(":");
        check(isIpv4(ip) && /^[0-9]+$/.test(p ?? ""), `acmePeer must be IPv4:port, got "${v.acmePeer}"`);
    }
    if (v.listen.address !== undefined)
        check(isIpv4(v.listen.address), `listen.address must be IPv4, got "${v.listen.address}"`);
    for (const a of v.listen.adminAddresses ?? [])
        check(isIpv4(a), `listen.adminAddresses entries must be IPv4 addresses, got "${a}"`);
    check(v.listen.adminAddresses?.length !== 0, "listen.adminAddresses must not be empty when given");
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
    const connLimit = view.limits?.connectionsPerIp ?? 0;
    const rate = view.limits?.requestsPerSecondPerIp ?? 0;
    const model = {
        ...view,
        // Explicit "": mustache would otherwise look `host` up in the enclosing view.
        peers: view.peers.map((p) => ({ ...p, host: p.host ?? "" })),
        user: view.user,
        workerProcesses: view.workerProcesses ?? "auto",
        // Each proxied client holds two connections (client + app): half the descriptors a worker may open.
        workerConnections: view.workerRlimitNofile ? Math.floor(view.workerRlimitNofile / 2) : 8192,
        modulesDir: view.modulesDir ?? "/usr/lib/nginx/modules",
        cookieName: STICKY_COOKIE,
        adminSelf: ["127.0.0.1", "::1", ...(view.adminSelf ?? [])],
        trustForwardedFor: trust,
        cookieStickiness: view.stickiness === "cookie",
        realIpFrom: trust ? view.realIpFrom : [],
        hsts: view.hstsMaxAge ? { maxAge: view.hstsMaxAge } : undefined,
        connLimit: connLimit > 0 ? { perIp: connLimit } : undefined,
        // A burst of 20 s worth: a page load or a reconnect storm from one office passes at once.
        reqLimit: rate > 0 ? { rate, burst: rate * 20 } : undefined,
        listenAddrs: [view.listen.address ?? "0.0.0.0"],
        adminListenAddrs: view.listen.adminAddresses ?? [view.listen.address ?? "0.0.0.0"],
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
