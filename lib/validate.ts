import * as net from "net";
import { lbAdminPort } from "./layout";

/**
 * One rule per kind of value, used by every layer that takes it: config (components/config/), the nginx
 * renderer (nginx/render.ts), the command builders (components/deploy.ts, ...) and, through the patterns
 * rendered into layout.sh, the host scripts. So anything the config accepts renders and runs, and a bad
 * value is reported at preview by config, with the same words a later layer would use.
 *
 * `allowed` completes "<key> is <value>: ...". Patterns that the host scripts also test are POSIX ERE and
 * JavaScript at once (no lookarounds, no \d), so the same text serves `[[ $v =~ $re ]]` and RegExp.
 */
export interface Rule<T> {
    ok(v: T): boolean;
    allowed: string;
}

export interface IntRule extends Rule<number> {
    min: number;
    max: number;
}

export function intRule(min: number, max: number, allowed = `must be an integer from ${min} to ${max}`): IntRule {
    return { min, max, allowed, ok: (n) => Number.isInteger(n) && n >= min && n <= max };
}

export function patternRule(pattern: string, allowed: string): Rule<string> & { pattern: string } {
    const re = new RegExp(pattern);
    return { pattern, allowed, ok: (v) => typeof v === "string" && re.test(v) };
}

/** Characters of a health-check path: they go into nginx directives, a Lua string and a shell word. */
const urlPathPattern = "^/[A-Za-z0-9._~!$&()*+,=:@%/?-]*$";
const label = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
/** Dot-separated labels; isDomainName adds the length and a non-numeric last label. */
const domainPattern = `^(${label}[.])+${label}$`;

export function isDomainName(v: string): boolean {
    return v.length <= 253 && new RegExp(domainPattern).test(v) && !/[.][0-9]+$/.test(v);
}

export function isIp(v: string): boolean {
    return net.isIP(v) !== 0;
}

export function isIpv4(v: string): boolean {
    return net.isIPv4(v);
}

export function isCidr(v: string): boolean {
    const m = /^([^/]+)\/([0-9]{1,3})$/.exec(v);
    if (!m) return false;
    const family = net.isIP(m[1]);
    const bits = Number(m[2]);
    return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

/** An RFC 1918 IPv4 range without host bits, /16 to /24: what DigitalOcean takes as a VPC range. */
export function isPrivateRange(v: string): boolean {
    if (!isCidr(v) || !net.isIPv4(v.split("/")[0])) return false;
    const [ip, bitsText] = v.split("/");
    const bits = Number(bitsText);
    const octets = ip.split(".").map(Number);
    const [a, b] = octets;
    const asInt = octets.reduce((acc, o) => acc * 256 + o, 0);
    if (asInt % 2 ** (32 - bits) !== 0) return false; // host bits set: not a range DigitalOcean accepts
    const rfc1918 = a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
    const minBits = a === 10 ? 8 : a === 172 ? 12 : 16;
    return rfc1918 && bits >= Math.max(16, minBits) && bits <= 24;
}

export function isJsonObject(v: string): boolean {
    try {
        const parsed = JSON.parse(v);
        return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed);
    } catch {
        return false;
    }
}

/** One OpenSSH public key line: type, base64, optional comment; no options such as command="...". */
const publicKeyTypes = [
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];
const publicKeyPattern = `^(${publicKeyTypes.map((t) => t.replace(/[.]/g, "[.]")).join("|")}) [A-Za-z0-9+/]+={0,2}( [ -~]*)?$`;

/** A public key line whose base64 part is a key of the type the line names. */
export function isPublicKey(v: string): boolean {
    if (!new RegExp(publicKeyPattern).test(v)) return false;
    const [type, b64] = v.split(" ");
    const blob = Buffer.from(b64, "base64");
    const len = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
    return len > 0 && blob.length >= 4 + len && blob.subarray(4, 4 + len).toString("latin1") === type;
}

const memoryMaxPattern = "^([1-9][0-9]*[KMGT]|([1-9][0-9]|100)%|infinity)$";
/** Below 64 MiB (or 10% of RAM) Node.js cannot start a Meteor app: a typo, not a limit. */
function memoryMaxBigEnough(v: string): boolean {
    const m = /^([0-9]+)([KMGT])$/.exec(v);
    if (!m) return true;
    const mib = Number(m[1]) * { K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 }[m[2] as "K" | "M" | "G" | "T"];
    return mib >= 64;
}

const cidrAllowed = "each entry must be a CIDR such as 203.0.113.0/24 or 2001:db8::/48";
const ms = "must be an integer number of milliseconds greater than 0";

/** A CIDR that is not the whole address space: /0 would trust or admit everyone. */
export function isNarrowCidr(v: string): boolean {
    return isCidr(v) && !v.endsWith("/0");
}

export const rules = {
    appCount: intRule(1, 100, "must be an integer from 1 to 100 (the number of app droplets)"),
    appHostName: patternRule(
        "^app-[1-9][0-9]{0,2}$",
        "names must be app hosts as `npm run ops -- status` shows them, app-1, app-2, ...",
    ),
    appPort: intRule(1024, 65535, "must be an unprivileged port from 1024 to 65535 (the app runs unprivileged)"),
    /** The app port must leave the LB admin port to the admin API (the firewalls admit both). */
    appPortFree: {
        ok: (n: number) => n !== lbAdminPort,
        allowed: `${lbAdminPort} is the load balancer's admin port; pick another`,
    } as Rule<number>,
    port: intRule(1, 65535, "must be a TCP port from 1 to 65535"),
    healthCheckPath: patternRule(
        urlPathPattern,
        "must be an absolute URL path: / followed by letters, digits and -._~!$&()*+,=:@%/? only",
    ),
    healthCheckIntervalMs: intRule(1, 600000, ms),
    healthCheckTimeoutMs: intRule(1, 600000, ms),
    healthCheckRise: intRule(1, 100),
    healthCheckFall: intRule(1, 100),
    trustedProxyCount: intRule(0, 10, "must be an integer from 0 to 10 (proxies in front of the load balancer)"),
    keepReleases: intRule(2, 50, "must be an integer from 2 to 50 (the previous release is always kept for rollback)"),
    stopGraceSeconds: intRule(1, 600, "must be an integer number of seconds from 1 to 600"),
    /** The app unit's MemoryMax (systemd's syntax, a subset): bytes with a suffix, a share of RAM, or none. */
    memoryMax: {
        ...patternRule(
            memoryMaxPattern,
            "must be a size of 64M or more with a K, M, G or T suffix (768M, 2G), a percentage of the droplet's RAM from 10% to 100% (90%), or infinity",
        ),
        ok: (v: string) => typeof v === "string" && new RegExp(memoryMaxPattern).test(v) && memoryMaxBigEnough(v),
    },
    cutoverTimeoutSeconds: intRule(5, 1800, "must be an integer number of seconds from 5 to 1800"),
    oplogTooFarBehind: intRule(1, 10_000_000, "must be a positive integer"),
    cidr: { ok: isCidr, allowed: cidrAllowed } as Rule<string>,
    /** adminCidrs and trustedProxyCidrs: a list of everyone (0.0.0.0/0, ::/0) defeats the list. */
    narrowCidr: {
        ok: isNarrowCidr,
        allowed: `${cidrAllowed}, not a /0 such as 0.0.0.0/0 or ::/0 (that is every address)`,
    } as Rule<string>,
    /** Strict-Transport-Security max-age in seconds; 0: no header. At most two years (browsers cap there). */
    hstsMaxAge: intRule(0, 63072000, "must be an integer number of seconds from 0 (no HSTS) to 63072000 (two years)"),
    /** Concurrent connections (HTTP/2 streams count each) per client address; 0: no limit. */
    connectionsPerIp: intRule(0, 1_000_000, "must be an integer from 0 (no limit) to 1000000"),
    /** New requests per second per client address (a burst of 20 s worth passes); 0: no limit. */
    requestsPerSecondPerIp: intRule(0, 100_000, "must be an integer from 0 (no limit) to 100000"),
    domain: {
        ok: isDomainName,
        allowed:
            "must be a fully qualified domain name such as app.example.com (letters, digits, hyphens; no scheme, port or path)",
    } as Rule<string>,
    sha256: patternRule("^[0-9a-f]{64}$", "must be 64 lowercase hex digits (a sha256)"),
    /** promoteFrom: a fully qualified stack name. */
    stackRef: patternRule(
        "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$",
        "must be a fully qualified stack name <org>/<project>/<stack>",
    ),
    envName: patternRule("^[A-Za-z_][A-Za-z0-9_]*$", "names must match [A-Za-z_][A-Za-z0-9_]*"),
    /** Droplet names as DigitalOcean allows them; the status page gets them inside a Lua string. */
    dropletName: patternRule("^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$", "must be a droplet name (letters, digits, . _ -)"),
    email: patternRule("^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+[.][A-Za-z]{2,}$", "must be an e-mail address"),
    publicKey: {
        ok: isPublicKey,
        allowed: `each entry must be one OpenSSH public key line, <type> <base64> [comment] as in ~/.ssh/id_ed25519.pub, with a type of ${publicKeyTypes.join(", ")} and no options`,
    } as Rule<string>,
    /** Host names the balancer checks and serves: a domain name or an IPv4 address (the reserved IP). */
    serverName: {
        ok: (v: string) => isDomainName(v) || isIpv4(v),
        allowed: "must be a domain name or an IPv4 address",
    } as Rule<string>,
};

/** The patterns the host scripts test, by the shell variable name layout.sh gives them. */
export const shellPatterns: Record<string, string> = {
    SHA256_RE: rules.sha256.pattern,
    URL_PATH_RE: rules.healthCheckPath.pattern,
    DOMAIN_RE: domainPattern,
    EMAIL_RE: rules.email.pattern,
    ENV_NAME_RE: rules.envName.pattern,
    MEMORY_MAX_RE: rules.memoryMax.pattern,
    PUBLIC_KEY_RE: publicKeyPattern,
};

/** Throws `<what> is <value>: <allowed>` unless the rule holds (for layers after config). */
export function assertRule<T>(rule: Rule<T>, v: T, what: string): void {
    if (!rule.ok(v)) throw new Error(`${what} is ${JSON.stringify(v)}: ${rule.allowed}`);
}
