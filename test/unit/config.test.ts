import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { ConfigError, configSchema, configWarnings, loadConfig, StackConfig } from "../../components/config";

let dir: string;
let bundle: string;
beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "config-"));
    bundle = path.join(dir, "app.tgz");
    fs.writeFileSync(bundle, "bundle bytes");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const load = (values: Record<string, string>): StackConfig =>
    loadConfig((key) => ({ bundle, ...values })[key], "staging");
const problemsOf = (values: Record<string, string>): string[] => {
    try {
        load(values);
    } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
    }
    throw new Error("expected a ConfigError");
};

const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";

describe("defaults", () => {
    test("an empty stack gets Pulumi.yaml's defaults", () => {
        const cfg = load({});
        expect(cfg).toMatchObject({
            project: "meteor-do",
            stack: "staging",
            placement: { region: "nyc3", adminCidrs: [], vpcIpRange: undefined, backups: false, monitoring: true },
            app: {
                count: 2,
                size: "s-1vcpu-2gb",
                port: 3000,
                nodeVersion: "auto",
                nodeDistUrl: "https://nodejs.org/dist",
                envAllowUnsafe: [],
                oplogTooFarBehind: undefined,
                keepReleases: 3,
                stopGraceSeconds: 20,
                cutoverTimeoutSeconds: 60,
            },
            lb: {
                size: "s-1vcpu-1gb",
                healthCheck: { path: "/", type: "http", intervalMs: 750, timeoutMs: 1000, rise: 2, fall: 2 },
                stickiness: "ip",
                trustedProxyCount: 0,
                trustedProxyCidrs: [],
                limits: { connectionsPerIp: 1000, requestsPerSecondPerIp: 100 },
            },
            tls: {
                domain: undefined,
                mode: "self-signed",
                // Never for a certificate a browser was asked to click through.
                hstsMaxAge: 0,
                letsencryptServer: "https://acme-v02.api.letsencrypt.org/directory",
            },
        });
        expect(cfg.app.bundle.path).toBe(bundle);
    });

    test("the bundle's sha256 is the sha256 of the file", () => {
        // sha256("bundle bytes"), computed independently with sha256sum.
        expect(load({}).app.bundle.sha256).toBe(execFileSync("sha256sum", [bundle]).toString().split(" ")[0]);
    });

    test("every key the program reads is declared in Pulumi.yaml with a description", () => {
        const schema = configSchema();
        for (const [name, s] of Object.entries(schema)) expect([name, typeof s.description]).toEqual([name, "string"]);
        expect(Object.keys(schema).sort()).toEqual([
            "adminCidrs",
            "alertCpuPercent",
            "alertDiskPercent",
            "alertEmails",
            "alertMemoryPercent",
            "alertWindow",
            "appCount",
            "appEnv",
            "appEnvAllowUnsafe",
            "appMemoryMax",
            "appPort",
            "appSize",
            "backups",
            "bundle",
            "connectionsPerIp",
            "cutoverTimeoutSeconds",
            "database",
            "databaseName",
            "databaseNodeCount",
            "databaseOplog",
            "databaseSize",
            "databaseVersion",
            "digitaloceanApiUrl",
            "dnsZone",
            "domain",
            "failoverApiToken",
            "healthCheckFall",
            "healthCheckIntervalMs",
            "healthCheckPath",
            "healthCheckRise",
            "healthCheckTimeoutMs",
            "healthCheckType",
            "hstsMaxAge",
            "keepReleases",
            "lbCount",
            "lbSize",
            "letsencryptEmail",
            "letsencryptServer",
            "manageDns",
            "meteorSettings",
            "meteorSettingsFile",
            "mongoOplogUrl",
            "mongoUrl",
            "monitoring",
            "nodeDistUrl",
            "nodeVersion",
            "operatorSshKeys",
            "oplogTooFarBehind",
            "projectEnvironment",
            "promoteFrom",
            "protectStateful",
            "region",
            "removeHosts",
            "requestsPerSecondPerIp",
            "rollback",
            "stickiness",
            "stopGraceSeconds",
            "tlsCertificate",
            "tlsMode",
            "tlsPrivateKey",
            "trustedProxyCidrs",
            "trustedProxyCount",
            "vpcIpRange",
        ]);
    });
});

describe("good values are taken as given", () => {
    test("a full production stack", async () => {
        const cfg = load({
            region: "fra1",
            appCount: "7",
            domain: "app.example.com",
            tlsMode: "provided",
            tlsCertificate: cert,
            tlsPrivateKey: key,
            stickiness: "cookie",
            adminCidrs: JSON.stringify(["203.0.113.0/24", "2001:db8::/48"]),
            vpcIpRange: "10.20.0.0/20",
            appEnv: JSON.stringify({ MAIL_URL: "smtp://mail", FEATURE_X: "on" }),
            trustedProxyCount: "1",
            trustedProxyCidrs: JSON.stringify(["198.51.100.0/24"]),
            mongoUrl: "mongodb+srv://u:p@db.example.com/app",
            meteorSettings: '{"public":{"x":1}}',
            oplogTooFarBehind: "5000",
            healthCheckType: "tcp",
            backups: "true",
            monitoring: "false",
        });
        expect(cfg).toMatchObject({
            placement: {
                region: "fra1",
                adminCidrs: ["203.0.113.0/24", "2001:db8::/48"],
                vpcIpRange: "10.20.0.0/20",
                backups: true,
                monitoring: false,
            },
            app: { count: 7, oplogTooFarBehind: 5000 },
            lb: { stickiness: "cookie", trustedProxyCount: 1, healthCheck: { type: "tcp" } },
            tls: { domain: "app.example.com", mode: "provided", hstsMaxAge: 31536000 },
        });
        for (const secret of [cfg.tls.privateKey!, cfg.app.mongoUrl!, cfg.app.meteorSettings!]) {
            expect(await pulumi.isSecret(secret)).toBe(true);
        }
        expect(await pulumi.isSecret(cfg.app.env)).toBe(true);
        expect(await new Promise((resolve) => cfg.app.env.apply(resolve))).toEqual({
            MAIL_URL: "smtp://mail",
            FEATURE_X: "on",
        });
    });

    test("adminCidrs unset warns that SSH to the LB is open; set, no warning", () => {
        expect(configWarnings(load({}))).toEqual([
            expect.stringMatching(/^meteor-do:adminCidrs is unset: SSH to the load balancer is open to any address/),
        ]);
        expect(configWarnings(load({ adminCidrs: '["198.51.100.7/32"]' }))).toEqual([]);
    });
});

// One bad value per row: the error names the key, shows the value (never a secret's) and what is allowed.
const table: [string, Record<string, string>, string][] = [
    [
        "appCount 0",
        { appCount: "0" },
        'meteor-do:appCount is "0": must be an integer from 1 to 100 (the number of app droplets)',
    ],
    [
        "appCount not an integer",
        { appCount: "2.5" },
        'meteor-do:appCount is "2.5": must be an integer from 1 to 100 (the number of app droplets)',
    ],
    [
        "unknown region",
        { region: "mars1" },
        'meteor-do:region is "mars1": must be one of ams3, atl1, blr1, fra1, lon1, nyc1, nyc2, nyc3, sfo2, sfo3, sgp1, syd1, tor1',
    ],
    [
        "unknown tlsMode",
        { tlsMode: "acme" },
        'meteor-do:tlsMode is "acme": must be one of self-signed, provided, letsencrypt',
    ],
    [
        "provided without certificate",
        { tlsMode: "provided", tlsPrivateKey: key },
        "meteor-do:tlsCertificate is required when meteor-do:tlsMode is provided (a PEM certificate chain)",
    ],
    [
        "provided without key",
        { tlsMode: "provided", tlsCertificate: cert },
        "meteor-do:tlsPrivateKey is required when meteor-do:tlsMode is provided (set it with `pulumi config set --secret tlsPrivateKey < key.pem`)",
    ],
    [
        "provided key not PEM",
        { tlsMode: "provided", tlsCertificate: cert, tlsPrivateKey: "hunter2" },
        "meteor-do:tlsPrivateKey must be a PEM private key (its value is secret and not shown)",
    ],
    [
        "letsencrypt without domain",
        { tlsMode: "letsencrypt", letsencryptEmail: "ops@example.com" },
        "meteor-do:domain is required when meteor-do:tlsMode is letsencrypt (HTTP-01 validates a domain name, not an IP address)",
    ],
    [
        "letsencrypt without email",
        { tlsMode: "letsencrypt", domain: "app.example.com" },
        "meteor-do:letsencryptEmail is required when meteor-do:tlsMode is letsencrypt (the ACME account's contact for expiry notices)",
    ],
    [
        "malformed CIDR",
        { adminCidrs: '["10.0.0.0/33"]' },
        'meteor-do:adminCidrs has "10.0.0.0/33": each entry must be a CIDR such as 203.0.113.0/24 or 2001:db8::/48, not a /0 such as 0.0.0.0/0 or ::/0 (that is every address)',
    ],
    [
        "CIDR without prefix",
        { adminCidrs: '["203.0.113.9"]' },
        'meteor-do:adminCidrs has "203.0.113.9": each entry must be a CIDR such as 203.0.113.0/24 or 2001:db8::/48, not a /0 such as 0.0.0.0/0 or ::/0 (that is every address)',
    ],
    [
        "adminCidrs not a list",
        { adminCidrs: "203.0.113.0/24" },
        `meteor-do:adminCidrs must be a list of strings (pulumi config set --path 'adminCidrs[0]' 203.0.113.0/24), got "203.0.113.0/24"`,
    ],
    [
        "malformed domain",
        { domain: "https://app.example.com/" },
        'meteor-do:domain is "https://app.example.com/": must be a fully qualified domain name such as app.example.com (letters, digits, hyphens; no scheme, port or path)',
    ],
    [
        "domain without a dot",
        { domain: "localhost" },
        'meteor-do:domain is "localhost": must be a fully qualified domain name such as app.example.com (letters, digits, hyphens; no scheme, port or path)',
    ],
    ["rise 0", { healthCheckRise: "0" }, 'meteor-do:healthCheckRise is "0": must be an integer from 1 to 100'],
    ["fall 0", { healthCheckFall: "0" }, 'meteor-do:healthCheckFall is "0": must be an integer from 1 to 100'],
    [
        "interval 0",
        { healthCheckIntervalMs: "0" },
        'meteor-do:healthCheckIntervalMs is "0": must be an integer number of milliseconds greater than 0',
    ],
    [
        "interval negative",
        { healthCheckIntervalMs: "-750" },
        'meteor-do:healthCheckIntervalMs is "-750": must be an integer number of milliseconds greater than 0',
    ],
    [
        "timeout 0",
        { healthCheckTimeoutMs: "0" },
        'meteor-do:healthCheckTimeoutMs is "0": must be an integer number of milliseconds greater than 0',
    ],
    [
        "health path relative",
        { healthCheckPath: "health" },
        'meteor-do:healthCheckPath is "health": must be an absolute URL path: / followed by letters, digits and -._~!$&()*+,=:@%/? only',
    ],
    [
        "healthCheckPath with a quote (it would break the Lua string and the nginx directive)",
        { healthCheckPath: '/a"b' },
        'meteor-do:healthCheckPath is "/a\\"b": must be an absolute URL path: / followed by letters, digits and -._~!$&()*+,=:@%/? only',
    ],
    ["unknown check type", { healthCheckType: "udp" }, 'meteor-do:healthCheckType is "udp": must be one of http, tcp'],
    ["unknown stickiness", { stickiness: "ip_hash" }, 'meteor-do:stickiness is "ip_hash": must be one of ip, cookie'],
    [
        "bundle path missing",
        { bundle: "nope/app.tgz" },
        `meteor-do:bundle is "nope/app.tgz": no such file (${path.resolve(__dirname, "../..", "nope/app.tgz")}). Build the sample app with \`npm run sample:bundle\`, or point bundle at your \`meteor build --server-only\` tarball`,
    ],
    [
        "bundle not a tarball",
        { bundle: "app.zip" },
        'meteor-do:bundle is "app.zip": must be a .tar.gz/.tgz made by `meteor build --server-only`',
    ],
    [
        "vpc range public",
        { vpcIpRange: "8.8.0.0/16" },
        'meteor-do:vpcIpRange is "8.8.0.0/16": must be an RFC 1918 IPv4 range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) with a prefix from /16 to /24, e.g. 10.10.0.0/20',
    ],
    [
        "vpc range too small",
        { vpcIpRange: "10.10.0.0/28" },
        'meteor-do:vpcIpRange is "10.10.0.0/28": must be an RFC 1918 IPv4 range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) with a prefix from /16 to /24, e.g. 10.10.0.0/20',
    ],
    [
        "vpc range host bits",
        { vpcIpRange: "10.10.0.5/24" },
        'meteor-do:vpcIpRange is "10.10.0.5/24": must be an RFC 1918 IPv4 range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) with a prefix from /16 to /24, e.g. 10.10.0.0/20',
    ],
    [
        "nodeVersion not exact",
        { nodeVersion: "22" },
        'meteor-do:nodeVersion is "22": must be auto (the version the bundle records) or an exact Node.js version X.Y.Z, e.g. 22.12.0',
    ],
    [
        "nodeDistUrl not a URL",
        { nodeDistUrl: "nodejs.org/dist" },
        'meteor-do:nodeDistUrl is "nodejs.org/dist": must be an http(s) URL with the nodejs.org/dist layout',
    ],
    [
        "appPort privileged",
        { appPort: "80" },
        'meteor-do:appPort is "80": must be an unprivileged port from 1024 to 65535 (the app runs unprivileged)',
    ],
    [
        "appPort is the admin port",
        { appPort: "8181" },
        'meteor-do:appPort is "8181": 8181 is the load balancer\'s admin port; pick another',
    ],
    [
        "appEnv sets a reserved name",
        { appEnv: '{"ROOT_URL":"x"}' },
        "meteor-do:appEnv sets ROOT_URL, which the program sets itself (PORT, BIND_IP, ROOT_URL, MONGO_URL, MONGO_OPLOG_URL, METEOR_SETTINGS, HTTP_FORWARDED_COUNT, METEOR_OPLOG_TOO_FAR_BEHIND, NODE_ENV); use the matching config key",
    ],
    [
        "appEnv bad name",
        { appEnv: '{"MY-VAR":"x"}' },
        'meteor-do:appEnv has the name "MY-VAR": names must match [A-Za-z_][A-Za-z0-9_]*',
    ],
    ["appEnv non-string", { appEnv: '{"N":5}' }, "meteor-do:appEnv.N must be a string (its value is not shown)"],
    [
        "meteorSettings not JSON",
        { meteorSettings: "{oops" },
        "meteor-do:meteorSettings must be a JSON object (its value is secret and not shown)",
    ],
    [
        "mongoUrl not mongodb",
        { mongoUrl: "postgres://secret@db" },
        "meteor-do:mongoUrl must be a mongodb:// or mongodb+srv:// URL (its value is secret and not shown)",
    ],
    [
        "trustedProxyCount negative",
        { trustedProxyCount: "-1" },
        'meteor-do:trustedProxyCount is "-1": must be an integer from 0 to 10 (proxies in front of the load balancer)',
    ],
    [
        "a proxy without its CIDRs",
        { trustedProxyCount: "1" },
        "meteor-do:trustedProxyCidrs is required when meteor-do:trustedProxyCount is 1 or more (the CIDRs of the proxies in front of the load balancer: only they may set X-Forwarded-For)",
    ],
    [
        "every address as a proxy",
        { trustedProxyCount: "1", trustedProxyCidrs: '["0.0.0.0/0"]' },
        'meteor-do:trustedProxyCidrs has "0.0.0.0/0": each entry must be a CIDR such as 203.0.113.0/24 or 2001:db8::/48, not a /0 such as 0.0.0.0/0 or ::/0 (that is every address)',
    ],
    [
        "every address as admin",
        { adminCidrs: '["::/0"]' },
        'meteor-do:adminCidrs has "::/0": each entry must be a CIDR such as 203.0.113.0/24 or 2001:db8::/48, not a /0 such as 0.0.0.0/0 or ::/0 (that is every address)',
    ],
    [
        "HSTS beyond two years",
        { hstsMaxAge: "63072001" },
        'meteor-do:hstsMaxAge is "63072001": must be an integer number of seconds from 0 (no HSTS) to 63072000 (two years)',
    ],
    [
        "negative connection limit",
        { connectionsPerIp: "-5" },
        'meteor-do:connectionsPerIp is "-5": must be an integer from 0 (no limit) to 1000000',
    ],
    [
        "proxy CIDRs without proxies",
        { trustedProxyCidrs: '["198.51.100.0/24"]' },
        "meteor-do:trustedProxyCidrs is set but meteor-do:trustedProxyCount is 0: set trustedProxyCount to the number of proxies in front of the load balancer",
    ],
    [
        "malformed proxy CIDR",
        { trustedProxyCount: "1", trustedProxyCidrs: '["cdn"]' },
        'meteor-do:trustedProxyCidrs has "cdn": each entry must be a CIDR such as 203.0.113.0/24 or 2001:db8::/48, not a /0 such as 0.0.0.0/0 or ::/0 (that is every address)',
    ],
    [
        "keepReleases 1",
        { keepReleases: "1" },
        'meteor-do:keepReleases is "1": must be an integer from 2 to 50 (the previous release is always kept for rollback)',
    ],
    [
        "cutover timeout too short",
        { cutoverTimeoutSeconds: "1" },
        'meteor-do:cutoverTimeoutSeconds is "1": must be an integer number of seconds from 5 to 1800',
    ],
    ["backups not boolean", { backups: "yes" }, 'meteor-do:backups is "yes": must be true or false'],
    [
        "promoteFrom not qualified",
        { promoteFrom: "staging" },
        'meteor-do:promoteFrom is "staging": must be a fully qualified stack name <org>/<project>/<stack>',
    ],
    [
        "appSize not a slug",
        { appSize: "Large" },
        'meteor-do:appSize is "Large": must be a DigitalOcean size slug such as s-1vcpu-2gb',
    ],
    [
        "letsencryptEmail malformed",
        { letsencryptEmail: "ops" },
        'meteor-do:letsencryptEmail is "ops": must be an e-mail address',
    ],
    [
        "letsencryptServer plain http",
        { letsencryptServer: "http://acme.example.com/dir" },
        'meteor-do:letsencryptServer is "http://acme.example.com/dir": must be production, staging or the https:// directory URL of an ACME server',
    ],
    [
        "letsencryptServer unknown name",
        { letsencryptServer: "prod" },
        'meteor-do:letsencryptServer is "prod": must be production, staging or the https:// directory URL of an ACME server',
    ],
    [
        "manageDns without domain",
        { manageDns: "true" },
        "meteor-do:manageDns is true but meteor-do:domain is unset: set the domain whose A record points at the reserved IP",
    ],
    ["manageDns not boolean", { manageDns: "yes" }, 'meteor-do:manageDns is "yes": must be true or false'],
    [
        "dnsZone not a parent of domain",
        { domain: "app.example.com", dnsZone: "example.org" },
        'meteor-do:dnsZone is "example.org": must be app.example.com or a parent domain of it',
    ],
    [
        "dnsZone malformed",
        { dnsZone: "example" },
        'meteor-do:dnsZone is "example": must be a domain name such as example.com',
    ],
    ["unknown database mode", { database: "atlas" }, 'meteor-do:database is "atlas": must be one of managed, external'],
    [
        "managed database with mongoUrl",
        { database: "managed", mongoUrl: "mongodb://u:S3cr3t@db/app" },
        "meteor-do:mongoUrl is set but meteor-do:database is managed: the program builds the URL from the cluster; unset it or set database to external",
    ],
    [
        "databaseNodeCount 2",
        { databaseNodeCount: "2" },
        'meteor-do:databaseNodeCount is "2": must be 1 or 3 (a MongoDB cluster is one node or a three-node replica set)',
    ],
    [
        "databaseNodeCount 5",
        { databaseNodeCount: "5" },
        'meteor-do:databaseNodeCount is "5": must be 1 or 3 (a MongoDB cluster is one node or a three-node replica set)',
    ],
    [
        "databaseSize a droplet slug",
        { databaseSize: "s-1vcpu-1gb" },
        'meteor-do:databaseSize is "s-1vcpu-1gb": must be a DigitalOcean database size slug such as db-s-1vcpu-1gb',
    ],
    [
        "databaseVersion not a major",
        { databaseVersion: "7.0.2" },
        'meteor-do:databaseVersion is "7.0.2": must be a MongoDB major version such as 7',
    ],
    [
        "databaseName with a dot",
        { databaseName: "my.app" },
        'meteor-do:databaseName is "my.app": must be 1 to 63 letters, digits, _ or -',
    ],
    [
        "alertEmails entry malformed",
        { alertEmails: '["ops@example.com","pager"]' },
        'meteor-do:alertEmails has "pager": each entry must be an e-mail address',
    ],
    [
        "alertEmails without the metrics agent",
        { alertEmails: '["ops@example.com"]', monitoring: "false" },
        "meteor-do:alertEmails is set but meteor-do:monitoring is false: memory and disk alerts need the metrics agent; set monitoring to true",
    ],
    [
        "alertCpuPercent 0",
        { alertCpuPercent: "0" },
        'meteor-do:alertCpuPercent is "0": must be an integer percentage from 1 to 100',
    ],
    [
        "alertDiskPercent over 100",
        { alertDiskPercent: "101" },
        'meteor-do:alertDiskPercent is "101": must be an integer percentage from 1 to 100',
    ],
    ["alertWindow unknown", { alertWindow: "15m" }, 'meteor-do:alertWindow is "15m": must be one of 5m, 10m, 30m, 1h'],
    [
        "projectEnvironment unknown",
        { projectEnvironment: "prod" },
        'meteor-do:projectEnvironment is "prod": must be one of Development, Staging, Production',
    ],
];

describe("bad values fail with the key, the value and what is allowed", () => {
    test.each(table)("%s", (_name, values, expected) => {
        expect(problemsOf(values)).toEqual([expected]);
    });

    test("every problem of every section is reported at once, in one error", () => {
        expect(
            problemsOf({
                region: "mars1",
                appCount: "0",
                stickiness: "sticky",
                tlsMode: "letsencrypt",
                alertWindow: "2h",
            }),
        ).toEqual([
            'meteor-do:region is "mars1": must be one of ams3, atl1, blr1, fra1, lon1, nyc1, nyc2, nyc3, sfo2, sfo3, sgp1, syd1, tor1',
            'meteor-do:appCount is "0": must be an integer from 1 to 100 (the number of app droplets)',
            'meteor-do:stickiness is "sticky": must be one of ip, cookie',
            "meteor-do:domain is required when meteor-do:tlsMode is letsencrypt (HTTP-01 validates a domain name, not an IP address)",
            "meteor-do:letsencryptEmail is required when meteor-do:tlsMode is letsencrypt (the ACME account's contact for expiry notices)",
            'meteor-do:alertWindow is "2h": must be one of 5m, 10m, 30m, 1h',
        ]);
        expect(() => load({ appCount: "0" })).toThrow(/^invalid stack configuration:\n {2}- meteor-do:appCount is "0"/);
    });

    test("a secret's value never appears in an error", () => {
        const secretValue = "postgres://admin:S3cr3tP4ss@db";
        const problems = problemsOf({
            mongoUrl: secretValue,
            tlsMode: "provided",
            tlsCertificate: cert,
            tlsPrivateKey: "S3cr3tKey",
        });
        expect(problems.join("\n")).not.toMatch(/S3cr3t/);
        expect(problems).toHaveLength(2);
    });
});

describe("the committed stack files", () => {
    // Where each key a stack file may set ends up in the typed config.
    const reached: Record<string, (cfg: StackConfig) => unknown> = {
        region: (c) => c.placement.region,
        appCount: (c) => c.app.count,
        appSize: (c) => c.app.size,
        lbSize: (c) => c.lb.size,
        lbCount: (c) => c.lb.count,
        tlsMode: (c) => c.tls.mode,
        backups: (c) => c.placement.backups,
        promoteFrom: (c) => c.app.promoteFrom,
    };

    test.each(["staging", "prod"])(
        "Pulumi.%s.yaml loads under its own name, every value reaching the config",
        (stack) => {
            const file = path.resolve(__dirname, "../..", `Pulumi.${stack}.yaml`);
            const values: Record<string, unknown> = YAML.parse(fs.readFileSync(file, "utf8")).config;
            const raw: Record<string, string> = {};
            const secure: string[] = [];
            for (const [k, v] of Object.entries(values)) {
                expect(k).toMatch(/^meteor-do:/);
                const key = k.slice("meteor-do:".length);
                if (typeof v === "object") {
                    // Only a secret key may hold a `secure:` value (ciphertext, or the placeholder the file explains).
                    expect([k, v, configSchema()[key]?.secret]).toEqual([k, { secure: expect.any(String) }, true]);
                    secure.push(key);
                    continue;
                }
                expect([k, typeof v]).toEqual([k, "string"]);
                raw[key] = v as string;
            }
            // What `pulumi config set --secret` would give the program: a value, secret.
            const withSecrets = {
                ...raw,
                ...Object.fromEntries(secure.map((k) => [k, "dop_v1_stand-in-for-a-secret"])),
            };
            expect(Object.keys(raw).filter((k) => !(k in configSchema()))).toEqual([]);
            const cfg = loadConfig((key) => ({ bundle, ...withSecrets })[key], stack);
            expect(cfg.stack).toBe(stack);
            for (const [k, v] of Object.entries(raw)) {
                expect([k, k in reached]).toEqual([k, true]);
                expect([k, String(reached[k](cfg))]).toEqual([k, v]);
            }
        },
    );
});
