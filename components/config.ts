import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { sha256File } from "./hash";

/**
 * Stack configuration, read and validated once. Components take the typed object (or pieces of it) and
 * never read config themselves. Every problem found is reported at once, each naming the key, the value
 * (never a secret's) and what is allowed, so `pulumi preview` fails before anything is touched.
 */

export const projectName = "meteor-do";
export const projectRoot = path.resolve(__dirname, "..");

export type TlsMode = "self-signed" | "provided" | "letsencrypt";
export type Stickiness = "ip" | "cookie";

export interface HealthCheck {
    path: string;
    intervalMs: number;
    rise: number;
    fall: number;
    timeoutMs: number;
    type: "http" | "tcp";
}

export interface Bundle {
    /** Absolute path of the tarball. */
    path: string;
    /** sha256 (hex) of the tarball: the release id. */
    sha256: string;
}

export interface StackConfig {
    project: string;
    stack: string;
    region: string;
    appCount: number;
    appSize: string;
    lbSize: string;
    appPort: number;
    nodeVersion: string;
    nodeDistUrl: string;
    domain?: string;
    tlsMode: TlsMode;
    tlsCertificate?: pulumi.Output<string>;
    tlsPrivateKey?: pulumi.Output<string>;
    letsencryptEmail?: string;
    healthCheck: HealthCheck;
    stickiness: Stickiness;
    adminCidrs: string[];
    vpcIpRange?: string;
    bundle: Bundle;
    promoteFrom?: string;
    mongoUrl?: pulumi.Output<string>;
    mongoOplogUrl?: pulumi.Output<string>;
    meteorSettings?: pulumi.Output<string>;
    appEnv: Record<string, string>;
    trustedProxyCount: number;
    /** CIDRs of the proxies in front of the LB; empty: trust one hop from any address (count 1 only). */
    trustedProxyCidrs: string[];
    oplogTooFarBehind?: number;
    keepReleases: number;
    stopGraceSeconds: number;
    cutoverTimeoutSeconds: number;
    backups: boolean;
    monitoring: boolean;
    /** Production services: components/{letsencrypt,dns,database,alerts,project}.ts. */
    services: ServicesConfig;
}

export type DatabaseMode = "managed" | "external";
export type AlertWindow = "5m" | "10m" | "30m" | "1h";

export interface ServicesConfig {
    /** ACME directory URL certbot uses (tlsMode letsencrypt). */
    letsencryptServer: string;
    /** Create the DigitalOcean DNS zone and the site's A record on the reserved IP. */
    manageDns: boolean;
    /** The zone (digitalocean.Domain) holding the record: the domain itself or a parent of it. */
    dnsZone?: string;
    database: DatabaseMode;
    databaseSize: string;
    databaseNodeCount: number;
    databaseVersion: string;
    databaseName: string;
    databaseOplog: boolean;
    alertEmails: string[];
    alertCpuPercent: number;
    alertMemoryPercent: number;
    alertDiskPercent: number;
    alertWindow: AlertWindow;
    projectEnvironment?: "Development" | "Staging" | "Production";
}

/** ACME directories that letsencryptServer may name instead of a URL. */
export const letsencryptDirectories: Record<string, string> = {
    production: "https://acme-v02.api.letsencrypt.org/directory",
    staging: "https://acme-staging-v02.api.letsencrypt.org/directory",
};

/** DigitalOcean regions that offer droplets, VPCs and reserved IPs. */
export const regions = [
    "ams3",
    "atl1",
    "blr1",
    "fra1",
    "lon1",
    "nyc1",
    "nyc2",
    "nyc3",
    "sfo2",
    "sfo3",
    "sgp1",
    "syd1",
    "tor1",
];
const tlsModes: TlsMode[] = ["self-signed", "provided", "letsencrypt"];
const stickinessModes: Stickiness[] = ["ip", "cookie"];
const healthCheckTypes = ["http", "tcp"];
/** Env names the program sets itself; appEnv may not override them. */
export const reservedEnvNames = [
    "PORT",
    "ROOT_URL",
    "MONGO_URL",
    "MONGO_OPLOG_URL",
    "METEOR_SETTINGS",
    "HTTP_FORWARDED_COUNT",
    "METEOR_OPLOG_TOO_FAR_BEHIND",
    "NODE_ENV",
];

interface KeySchema {
    type?: "string" | "integer" | "boolean" | "array";
    default?: unknown;
    secret?: boolean;
    description: string;
}

/** The `config:` block of Pulumi.yaml: the one list of keys, types and defaults. */
export function configSchema(): Record<string, KeySchema> {
    const doc = YAML.parse(fs.readFileSync(path.join(projectRoot, "Pulumi.yaml"), "utf8"));
    return doc.config;
}

/** Raw config text by key, as the engine passes it (secrets in plain text, so never print those). */
export type RawConfig = (key: string) => string | undefined;

const runtimeConfig: RawConfig = (key) => pulumi.runtime.getConfig(`${projectName}:${key}`);

export class ConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
        this.name = "ConfigError";
    }
}

/**
 * Reads and checks every key. `raw` defaults to the engine's config; tests pass their own.
 * Throws a ConfigError listing every problem.
 */
export function loadConfig(raw: RawConfig = runtimeConfig, stack = pulumi.getStack()): StackConfig {
    const schema = configSchema();
    const problems: string[] = [];
    const k = (key: string) => `${projectName}:${key}`;

    const text = (key: string): string | undefined => {
        if (!(key in schema)) throw new Error(`program bug: config key ${key} is not declared in Pulumi.yaml`);
        const v = raw(key);
        if (v !== undefined && v !== "") return v;
        const d = schema[key].default;
        return d === undefined ? undefined : String(d);
    };
    const shown = (key: string, v: string) => (schema[key].secret ? "(secret)" : JSON.stringify(v));
    const bad = (key: string, v: string, allowed: string) => problems.push(`${k(key)} is ${shown(key, v)}: ${allowed}`);

    const int = (key: string, min: number, max: number, allowed?: string): number => {
        const v = text(key);
        if (v === undefined) return NaN;
        const n = Number(v);
        if (!/^-?\d+$/.test(v.trim()) || n < min || n > max) {
            bad(key, v, allowed ?? `must be an integer from ${min} to ${max}`);
            return NaN;
        }
        return n;
    };
    const bool = (key: string): boolean => {
        const v = text(key);
        if (v === "true") return true;
        if (v === "false" || v === undefined) return false;
        bad(key, v, "must be true or false");
        return false;
    };
    const oneOf = <T extends string>(key: string, allowed: readonly T[]): T => {
        const v = text(key) ?? "";
        if (!(allowed as readonly string[]).includes(v)) bad(key, v, `must be one of ${allowed.join(", ")}`);
        return v as T;
    };
    const matching = (key: string, re: RegExp, allowed: string): string => {
        const v = text(key) ?? "";
        if (!re.test(v)) bad(key, v, allowed);
        return v;
    };
    const optional = (key: string): string | undefined => text(key);
    const secret = (key: string): pulumi.Output<string> | undefined => {
        const v = text(key);
        return v === undefined ? undefined : pulumi.secret(v);
    };

    const region = oneOf("region", regions);
    const appCount = int("appCount", 1, 100, "must be an integer from 1 to 100 (the number of app droplets)");
    const slug = /^[a-z0-9][a-z0-9-]*[a-z0-9]$/;
    const appSize = matching("appSize", slug, "must be a DigitalOcean size slug such as s-1vcpu-2gb");
    const lbSize = matching("lbSize", slug, "must be a DigitalOcean size slug such as s-1vcpu-1gb");
    const appPort = int(
        "appPort",
        1024,
        65535,
        "must be an unprivileged port from 1024 to 65535 (the app runs unprivileged)",
    );
    if (appPort === 8181) bad("appPort", "8181", "8181 is the load balancer's admin port; pick another");
    const nodeVersion = matching(
        "nodeVersion",
        /^\d+\.\d+\.\d+$/,
        "must be an exact Node.js version X.Y.Z, e.g. 22.12.0",
    );
    const nodeDistUrl = matching(
        "nodeDistUrl",
        /^https?:\/\/[^\s/]+(\/[^\s]*)?$/,
        "must be an http(s) URL with the nodejs.org/dist layout",
    ).replace(/\/+$/, "");

    const domain = optional("domain");
    if (domain !== undefined && !isDomainName(domain)) {
        bad(
            "domain",
            domain,
            "must be a fully qualified domain name such as app.example.com (letters, digits, hyphens; no scheme, port or path)",
        );
    }

    const tlsMode = oneOf("tlsMode", tlsModes);
    const tlsCertificate = optional("tlsCertificate");
    const tlsPrivateKeyText = text("tlsPrivateKey");
    const letsencryptEmail = optional("letsencryptEmail");
    if (tlsMode === "provided") {
        if (tlsCertificate === undefined)
            problems.push(
                `${k("tlsCertificate")} is required when ${k("tlsMode")} is provided (a PEM certificate chain)`,
            );
        else if (!/-----BEGIN CERTIFICATE-----/.test(tlsCertificate))
            problems.push(`${k("tlsCertificate")} must be a PEM certificate chain (-----BEGIN CERTIFICATE-----)`);
        if (tlsPrivateKeyText === undefined)
            problems.push(
                `${k("tlsPrivateKey")} is required when ${k("tlsMode")} is provided (set it with \`pulumi config set --secret tlsPrivateKey < key.pem\`)`,
            );
        else if (!/-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/.test(tlsPrivateKeyText))
            problems.push(`${k("tlsPrivateKey")} must be a PEM private key (its value is secret and not shown)`);
    } else if (tlsMode === "letsencrypt") {
        if (domain === undefined)
            problems.push(
                `${k("domain")} is required when ${k("tlsMode")} is letsencrypt (HTTP-01 validates a domain name, not an IP address)`,
            );
        if (letsencryptEmail === undefined)
            problems.push(
                `${k("letsencryptEmail")} is required when ${k("tlsMode")} is letsencrypt (the ACME account's contact for expiry notices)`,
            );
    }
    if (letsencryptEmail !== undefined && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(letsencryptEmail)) {
        bad("letsencryptEmail", letsencryptEmail, "must be an e-mail address");
    }

    const healthPath = matching(
        "healthCheckPath",
        /^\/[^\s]*$/,
        "must be an absolute URL path starting with / and without spaces",
    );
    const healthCheck: HealthCheck = {
        path: healthPath,
        type: oneOf("healthCheckType", healthCheckTypes) as HealthCheck["type"],
        intervalMs: int("healthCheckIntervalMs", 1, 600000, "must be an integer number of milliseconds greater than 0"),
        timeoutMs: int("healthCheckTimeoutMs", 1, 600000, "must be an integer number of milliseconds greater than 0"),
        rise: int("healthCheckRise", 1, 100, "must be an integer from 1 to 100"),
        fall: int("healthCheckFall", 1, 100, "must be an integer from 1 to 100"),
    };
    const stickiness = oneOf("stickiness", stickinessModes);

    const adminCidrs = list("adminCidrs", raw, problems);
    for (const c of adminCidrs) {
        if (!isCidr(c))
            problems.push(
                `${k("adminCidrs")} has ${JSON.stringify(c)}: each entry must be a CIDR such as 203.0.113.0/24 or 2001:db8::/48`,
            );
    }

    const vpcIpRange = optional("vpcIpRange");
    if (vpcIpRange !== undefined && !isPrivateRange(vpcIpRange)) {
        bad(
            "vpcIpRange",
            vpcIpRange,
            "must be an RFC 1918 IPv4 range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) with a prefix from /16 to /24, e.g. 10.10.0.0/20",
        );
    }

    const promoteFrom = optional("promoteFrom");
    if (promoteFrom !== undefined && !/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/.test(promoteFrom)) {
        bad("promoteFrom", promoteFrom, "must be a fully qualified stack name <org>/<project>/<stack>");
    }
    const bundle = readBundle(text("bundle") ?? "", problems);

    const appEnv = object("appEnv", raw, problems);
    for (const [name, value] of Object.entries(appEnv)) {
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name))
            problems.push(
                `${k("appEnv")} has the name ${JSON.stringify(name)}: names must match [A-Za-z_][A-Za-z0-9_]*`,
            );
        else if (reservedEnvNames.includes(name))
            problems.push(
                `${k("appEnv")} sets ${name}, which the program sets itself (${reservedEnvNames.join(", ")}); use the matching config key`,
            );
        if (typeof value !== "string")
            problems.push(`${k("appEnv")}.${name} must be a string, got ${JSON.stringify(value)}`);
    }
    const meteorSettingsText = text("meteorSettings");
    if (meteorSettingsText !== undefined && !isJsonObject(meteorSettingsText)) {
        problems.push(`${k("meteorSettings")} must be a JSON object (its value is secret and not shown)`);
    }
    for (const key of ["mongoUrl", "mongoOplogUrl"]) {
        const v = text(key);
        if (v !== undefined && !/^mongodb(\+srv)?:\/\/\S+$/.test(v))
            problems.push(`${k(key)} must be a mongodb:// or mongodb+srv:// URL (its value is secret and not shown)`);
    }

    const trustedProxyCount = int(
        "trustedProxyCount",
        0,
        10,
        "must be an integer from 0 to 10 (proxies in front of the load balancer)",
    );
    const trustedProxyCidrs = list("trustedProxyCidrs", raw, problems);
    for (const c of trustedProxyCidrs) {
        if (!isCidr(c))
            problems.push(
                `${k("trustedProxyCidrs")} has ${JSON.stringify(c)}: each entry must be a CIDR such as 203.0.113.0/24 or 2001:db8::/48`,
            );
    }
    if (trustedProxyCount > 1 && trustedProxyCidrs.length === 0) {
        // Beyond one hop, X-Forwarded-For can only be walked safely through known proxy addresses.
        problems.push(
            `${k("trustedProxyCidrs")} is required when ${k("trustedProxyCount")} is more than 1 (the CIDRs of the proxies in front of the load balancer)`,
        );
    }
    if (trustedProxyCount === 0 && trustedProxyCidrs.length > 0) {
        problems.push(
            `${k("trustedProxyCidrs")} is set but ${k("trustedProxyCount")} is 0: set trustedProxyCount to the number of proxies in front of the load balancer`,
        );
    }
    const oplogText = optional("oplogTooFarBehind");
    const oplogTooFarBehind =
        oplogText === undefined ? undefined : int("oplogTooFarBehind", 1, 10_000_000, "must be a positive integer");
    const keepReleases = int(
        "keepReleases",
        2,
        50,
        "must be an integer from 2 to 50 (the previous release is always kept for rollback)",
    );
    const stopGraceSeconds = int("stopGraceSeconds", 1, 600, "must be an integer number of seconds from 1 to 600");
    const cutoverTimeoutSeconds = int(
        "cutoverTimeoutSeconds",
        5,
        1800,
        "must be an integer number of seconds from 5 to 1800",
    );
    const backups = bool("backups");
    const monitoring = bool("monitoring");

    // Production services.
    const serverText = text("letsencryptServer") ?? "production";
    const letsencryptServer = letsencryptDirectories[serverText] ?? serverText;
    if (!/^https:\/\/[^\s/]+(\/\S*)?$/.test(letsencryptServer)) {
        bad(
            "letsencryptServer",
            serverText,
            "must be production, staging or the https:// directory URL of an ACME server",
        );
    }
    const manageDns = bool("manageDns");
    const dnsZone = optional("dnsZone");
    if (manageDns && domain === undefined)
        problems.push(
            `${k("manageDns")} is true but ${k("domain")} is unset: set the domain whose A record points at the reserved IP`,
        );
    if (dnsZone !== undefined && !isDomainName(dnsZone)) {
        bad("dnsZone", dnsZone, "must be a domain name such as example.com");
    } else if (dnsZone !== undefined && domain !== undefined && domain !== dnsZone && !domain.endsWith(`.${dnsZone}`)) {
        bad("dnsZone", dnsZone, `must be ${domain} or a parent domain of it`);
    }
    const database = oneOf("database", ["managed", "external"] as DatabaseMode[]);
    const databaseSize = matching(
        "databaseSize",
        /^db-[a-z0-9-]*[a-z0-9]$/,
        "must be a DigitalOcean database size slug such as db-s-1vcpu-1gb",
    );
    const databaseNodeCount = int(
        "databaseNodeCount",
        1,
        3,
        "must be 1 or 3 (a MongoDB cluster is one node or a three-node replica set)",
    );
    if (databaseNodeCount === 2)
        bad("databaseNodeCount", "2", "must be 1 or 3 (a MongoDB cluster is one node or a three-node replica set)");
    const databaseVersion = matching("databaseVersion", /^\d+$/, "must be a MongoDB major version such as 7");
    const databaseName = matching("databaseName", /^[A-Za-z0-9_-]{1,63}$/, "must be 1 to 63 letters, digits, _ or -");
    const databaseOplog = bool("databaseOplog");
    if (database === "managed") {
        for (const key of ["mongoUrl", "mongoOplogUrl"]) {
            if (text(key) !== undefined)
                problems.push(
                    `${k(key)} is set but ${k("database")} is managed: the program builds the URL from the cluster; unset it or set database to external`,
                );
        }
    }
    const alertEmails = list("alertEmails", raw, problems);
    for (const e of alertEmails) {
        if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e))
            problems.push(`${k("alertEmails")} has ${JSON.stringify(e)}: each entry must be an e-mail address`);
    }
    if (alertEmails.length > 0 && !monitoring)
        problems.push(
            `${k("alertEmails")} is set but ${k("monitoring")} is false: memory and disk alerts need the metrics agent; set monitoring to true`,
        );
    const percent = (key: string) => int(key, 1, 100, "must be an integer percentage from 1 to 100");
    const alertCpuPercent = percent("alertCpuPercent");
    const alertMemoryPercent = percent("alertMemoryPercent");
    const alertDiskPercent = percent("alertDiskPercent");
    const alertWindow = oneOf("alertWindow", ["5m", "10m", "30m", "1h"] as AlertWindow[]);
    const projectEnvironmentText = optional("projectEnvironment");
    const projectEnvironment =
        projectEnvironmentText === undefined
            ? undefined
            : oneOf("projectEnvironment", ["Development", "Staging", "Production"] as const);

    if (problems.length > 0) throw new ConfigError(problems);

    return {
        project: projectName,
        stack,
        region,
        appCount,
        appSize,
        lbSize,
        appPort,
        nodeVersion,
        nodeDistUrl,
        domain,
        tlsMode,
        tlsCertificate: tlsCertificate === undefined ? undefined : pulumi.output(tlsCertificate),
        tlsPrivateKey: secret("tlsPrivateKey"),
        letsencryptEmail,
        healthCheck,
        stickiness,
        adminCidrs,
        vpcIpRange,
        bundle,
        promoteFrom,
        mongoUrl: secret("mongoUrl"),
        mongoOplogUrl: secret("mongoOplogUrl"),
        meteorSettings: secret("meteorSettings"),
        appEnv,
        trustedProxyCount,
        trustedProxyCidrs,
        oplogTooFarBehind,
        keepReleases,
        stopGraceSeconds,
        cutoverTimeoutSeconds,
        backups,
        monitoring,
        services: {
            letsencryptServer,
            manageDns,
            dnsZone,
            database,
            databaseSize,
            databaseNodeCount,
            databaseVersion,
            databaseName,
            databaseOplog,
            alertEmails,
            alertCpuPercent,
            alertMemoryPercent,
            alertDiskPercent,
            alertWindow,
            projectEnvironment,
        },
    };
}

/** Warnings worth showing in every preview (not errors: the configuration works, but look at it). */
export function configWarnings(cfg: StackConfig): string[] {
    const warnings: string[] = [];
    if (cfg.adminCidrs.length === 0) {
        warnings.push(
            `${projectName}:adminCidrs is unset: SSH to the load balancer is open to any address (key-only, no passwords, no root) and /check-status is reachable only from the VPC. Set adminCidrs to your office/CI ranges to close it.`,
        );
    }
    return warnings;
}

function list(key: string, raw: RawConfig, problems: string[]): string[] {
    const v = raw(key);
    if (v === undefined || v === "") return [];
    try {
        const parsed = JSON.parse(v);
        if (Array.isArray(parsed) && parsed.every((x) => typeof x === "string")) return parsed;
    } catch {
        // fall through to the error below
    }
    problems.push(
        `${projectName}:${key} must be a list of strings (pulumi config set --path '${key}[0]' 203.0.113.0/24), got ${JSON.stringify(v)}`,
    );
    return [];
}

function object(key: string, raw: RawConfig, problems: string[]): Record<string, string> {
    const v = raw(key);
    if (v === undefined || v === "") return {};
    try {
        const parsed = JSON.parse(v);
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed;
    } catch {
        // fall through to the error below
    }
    problems.push(
        `${projectName}:${key} must be a map of NAME: value (pulumi config set --path ${key}.NAME value), got ${JSON.stringify(v)}`,
    );
    return {};
}

function readBundle(value: string, problems: string[]): Bundle {
    const file = path.resolve(projectRoot, value);
    if (!value.endsWith(".tgz") && !value.endsWith(".tar.gz")) {
        problems.push(
            `${projectName}:bundle is ${JSON.stringify(value)}: must be a .tar.gz/.tgz made by \`meteor build --server-only\``,
        );
        return { path: file, sha256: "" };
    }
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
        problems.push(
            `${projectName}:bundle is ${JSON.stringify(value)}: no such file (${file}). Build the sample app with \`npm run sample:bundle\`, or point bundle at your \`meteor build --server-only\` tarball`,
        );
        return { path: file, sha256: "" };
    }
    return { path: file, sha256: sha256File(file) };
}

export function isDomainName(v: string): boolean {
    if (v.length > 253 || !v.includes(".")) return false;
    return (
        v.split(".").every((label) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label)) &&
        !/^\d+$/.test(v.split(".").pop()!)
    );
}

export function isCidr(v: string): boolean {
    const m = /^([^/]+)\/(\d{1,3})$/.exec(v);
    if (!m) return false;
    const family = net.isIP(m[1]);
    const bits = Number(m[2]);
    return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

export function isPrivateRange(v: string): boolean {
    if (!isCidr(v) || net.isIP(v.split("/")[0]) !== 4) return false;
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

function isJsonObject(v: string): boolean {
    try {
        const parsed = JSON.parse(v);
        return parsed !== null && typeof parsed === "object" && !Array.isArray(parsed);
    } catch {
        return false;
    }
}
