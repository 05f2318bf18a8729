// One rule per value (lib/validate.ts): the same bad value is refused by config (at preview, with the
// key) and by the nginx renderer (inside an apply), and a value config accepts renders. Edges included.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ConfigError, loadConfig } from "../../components/config";
import { renderNginx } from "../../nginx/render";
import { productionView, ProductionSite } from "../../nginx/views";
import { isDomainName, isPrivateRange, rules } from "../../lib/validate";

let dir: string;
let bundle: string;
beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "validate-"));
    bundle = path.join(dir, "app.tgz");
    fs.writeFileSync(bundle, "bundle bytes");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The problems config reports about `key` (empty: config accepts the value). */
function configProblems(key: string, values: Record<string, string>): string[] {
    try {
        loadConfig((k) => ({ bundle, ...values })[k], "staging");
        return [];
    } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        return e.problems.filter((p) => p.startsWith(`meteor-do:${key} `));
    }
}

const site: ProductionSite = {
    peers: ["10.116.0.5", "10.116.0.6"],
    appPort: 3000,
    lbPrivateIp: "10.116.0.2",
    vpcCidr: "10.116.0.0/20",
    serverName: "app.example.com",
    healthCheck: { path: "/", intervalMs: 750, rise: 2, fall: 2, timeoutMs: 1000, type: "http" },
    stickiness: "ip",
    trustedProxyCount: 0,
    adminCidrs: [],
    hstsMaxAge: 31536000,
    limits: { connectionsPerIp: 1000, requestsPerSecondPerIp: 100 },
    tls: {
        certificate: "/etc/meteor-do/tls/fullchain.pem",
        privateKey: "/etc/meteor-do/tls/privkey.pem",
        selfSigned: false,
    },
};

/** Whether the production tree renders for the site with `change` applied. */
function renders(change: (s: ProductionSite) => ProductionSite): boolean {
    try {
        renderNginx(productionView(change(structuredClone(site))));
        return true;
    } catch {
        return false;
    }
}

type Row = {
    key: string;
    /** Other config keys the value needs to be read at all (e.g. a proxy count for proxy CIDRs). */
    with?: Record<string, string>;
    /** The same value, where the renderer gets it. */
    view: (s: ProductionSite, v: string) => ProductionSite;
    bad: string[];
    good: string[];
};

const hc = (s: ProductionSite, change: Partial<ProductionSite["healthCheck"]>) => ({
    ...s,
    healthCheck: { ...s.healthCheck, ...change },
});

const table: Row[] = [
    {
        key: "healthCheckPath",
        view: (s, v) => hc(s, { path: v }),
        bad: ["health", '/a"b', "/a b", "/a;b", "/a{b}", "/a\\b", "/é", "/a'b", "//x\n"],
        good: ["/", "/health", "/health?x=1&y=2", "/a-b_c.d~e!$&()*+,=:@%2F/"],
    },
    {
        key: "healthCheckIntervalMs",
        view: (s, v) => hc(s, { intervalMs: Number(v) }),
        bad: ["0", "-1", "600001", "1.5"],
        good: ["1", "600000"],
    },
    {
        key: "healthCheckTimeoutMs",
        view: (s, v) => hc(s, { timeoutMs: Number(v) }),
        bad: ["0", "600001", "2.5"],
        good: ["1", "600000"],
    },
    {
        key: "healthCheckRise",
        view: (s, v) => hc(s, { rise: Number(v) }),
        bad: ["0", "101"],
        good: ["1", "100"],
    },
    {
        key: "healthCheckFall",
        view: (s, v) => hc(s, { fall: Number(v) }),
        bad: ["0", "101"],
        good: ["1", "100"],
    },
    {
        key: "healthCheckType",
        view: (s, v) => hc(s, { type: v as "http" }),
        bad: ["udp", "HTTP", "https"],
        good: ["http", "tcp"],
    },
    {
        key: "stickiness",
        view: (s, v) => ({ ...s, stickiness: v as "ip" }),
        bad: ["sticky", "IP", "cookies"],
        good: ["ip", "cookie"],
    },
    {
        key: "appPort",
        view: (s, v) => ({ ...s, appPort: Number(v) }),
        bad: ["0", "80", "1023", "8181", "65536", "3000.5"],
        good: ["1024", "3000", "65535"],
    },
    {
        key: "trustedProxyCount",
        with: { trustedProxyCidrs: '["198.51.100.0/24"]' },
        view: (s, v) => ({ ...s, trustedProxyCount: Number(v), realIpFrom: ["198.51.100.0/24"] }),
        bad: ["-1", "11", "1.5"],
        good: ["1", "2", "10"],
    },
    {
        key: "trustedProxyCidrs",
        with: { trustedProxyCount: "1" },
        view: (s, v) => ({ ...s, trustedProxyCount: 1, realIpFrom: JSON.parse(v) }),
        bad: [
            '["10.0.0.0/33"]',
            '["300.1.2.0/24"]',
            '["proxy.example.com"]',
            '["2001:db8::/129"]',
            '["10.0.0.0/8;"]',
            '["0.0.0.0/0"]',
            '["::/0"]',
        ],
        good: ['["198.51.100.0/24"]', '["0.0.0.0/1"]', '["2001:db8::/48"]', '["10.0.0.1/32"]'],
    },
    {
        key: "adminCidrs",
        view: (s, v) => ({ ...s, adminCidrs: JSON.parse(v) }),
        bad: [
            '["10.0.0.0/33"]',
            '["256.0.0.0/8"]',
            '["office"]',
            '["::/129"]',
            '["1.2.3.0/24 "]',
            '["0.0.0.0/0"]',
            '["::/0"]',
        ],
        good: ['["203.0.113.0/24"]', '["2001:db8::/48"]', '["0.0.0.0/1"]'],
    },
    {
        key: "hstsMaxAge",
        with: { tlsMode: "provided" },
        view: (s, v) => ({ ...s, hstsMaxAge: Number(v) }),
        bad: ["-1", "63072001", "1.5"],
        good: ["0", "300", "63072000"],
    },
    {
        key: "connectionsPerIp",
        view: (s, v) => ({ ...s, limits: { ...s.limits, connectionsPerIp: Number(v) } }),
        bad: ["-1", "1000001", "2.5"],
        good: ["0", "1", "1000000"],
    },
    {
        key: "requestsPerSecondPerIp",
        view: (s, v) => ({ ...s, limits: { ...s.limits, requestsPerSecondPerIp: Number(v) } }),
        bad: ["-1", "100001"],
        good: ["0", "1", "100000"],
    },
    {
        key: "domain",
        view: (s, v) => ({ ...s, serverName: v }),
        bad: [
            "-app.example.com",
            "app-.example.com",
            "app..example.com",
            "app.example.123",
            "app_1.example.com",
            "app example.com",
            "app.example.com:443",
            "https://app.example.com",
            `${"a".repeat(64)}.example.com`,
            `${"a.".repeat(127)}com`,
        ],
        good: ["app.example.com", "a.io", "xn--bcher-kva.example", `${"a".repeat(63)}.example.com`],
    },
];

describe.each(table)("$key: config and the renderer give the same verdicts", (row) => {
    test.each(row.bad)("%j is refused by both", (v) => {
        expect(configProblems(row.key, { ...row.with, [row.key]: v })).toHaveLength(1);
        expect(renders((s) => row.view(s, v))).toBe(false);
    });
    test.each(row.good)("%j is accepted by both", (v) => {
        expect(configProblems(row.key, { ...row.with, [row.key]: v })).toEqual([]);
        expect(renders((s) => row.view(s, v))).toBe(true);
    });
});

test("the site itself renders (so a refusal above is the value's)", () => {
    expect(renders((s) => s)).toBe(true);
});

describe("rule edges", () => {
    test("domain names: at most 253 characters, labels of 1 to 63, a last label that is not all digits", () => {
        const at253 = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`;
        expect(at253).toHaveLength(253);
        expect(isDomainName(at253)).toBe(true);
        expect(isDomainName(`${at253}e`)).toBe(false);
        expect(isDomainName("example.com1")).toBe(true);
        expect(isDomainName("10.0.0.1")).toBe(false);
        expect(isDomainName("localhost")).toBe(false);
    });

    test("private ranges: RFC 1918 only, /16 to /24, no host bits", () => {
        for (const ok of ["10.10.0.0/20", "172.16.0.0/16", "192.168.1.0/24", "10.0.0.0/16"])
            expect([ok, isPrivateRange(ok)]).toEqual([ok, true]);
        for (const bad of ["10.0.0.0/8", "10.0.0.0/25", "10.0.0.1/24", "172.32.0.0/16", "8.8.0.0/16", "fd00::/48"])
            expect([bad, isPrivateRange(bad)]).toEqual([bad, false]);
    });

    test("sha256 and stack names: the exact shapes the host scripts and promotion expect", () => {
        expect(rules.sha256.ok("a".repeat(64))).toBe(true);
        expect(rules.sha256.ok("A".repeat(64))).toBe(false);
        expect(rules.sha256.ok("a".repeat(63))).toBe(false);
        expect(rules.stackRef.ok("acme/meteor-do/staging")).toBe(true);
        expect(rules.stackRef.ok("meteor-do/staging")).toBe(false);
        expect(rules.stackRef.ok("acme/meteor do/staging")).toBe(false);
    });

    test("env names and e-mail addresses", () => {
        expect(["_A", "A1", "mail_URL"].map((n) => rules.envName.ok(n))).toEqual([true, true, true]);
        expect(["1A", "A-B", "A B", ""].map((n) => rules.envName.ok(n))).toEqual([false, false, false, false]);
        expect(rules.email.ok("ops+alerts@example.co")).toBe(true);
        expect(["ops", "ops@example", "o ps@example.com", "ops@@example.com"].map((e) => rules.email.ok(e))).toEqual([
            false,
            false,
            false,
            false,
        ]);
    });
});
