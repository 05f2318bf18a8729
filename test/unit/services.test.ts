import * as pulumi from "@pulumi/pulumi";
import type * as digitalocean from "@pulumi/digitalocean";
import {
    freshProgram,
    isSecretInput,
    named,
    objects,
    ofType,
    promiseOf,
    props,
    recorded,
    runProgram,
    tempBundle,
    useMocks,
} from "../support/mocks";
import { untarGzBase64 } from "../support/untar";
import { loadConfig } from "../../components/config";
import { installMongoCa, ManagedDatabase, managedMongoUrls, mongoCaPath, mongoUrls } from "../../components/database";
import { recordName } from "../../components/dns";

// Each describe evaluates the whole program; on a busy machine that takes longer than jest's 5 s.
jest.setTimeout(60_000);

// Production services (components/{letsencrypt,dns,database,alerts,project}.ts) through the whole
// program (index.ts) under mocks: which resources each mode adds, with which inputs, after what.

let fixture: ReturnType<typeof tempBundle>;
let bundle: string;
beforeAll(() => {
    fixture = tempBundle("services-");
    bundle = fixture.bundle;
});
afterAll(() => fixture.remove());

const dependsOn = (name: string) => named(name).dependsOn;
const propsOf = (name: string) => props.get(name)!;
const run = async (config: Record<string, string> = {}, preview = false): Promise<void> => {
    await runProgram({ bundle, ...config }, preview);
};

const T = {
    domain: "digitalocean:index/domain:Domain",
    record: "digitalocean:index/dnsRecord:DnsRecord",
    cluster: "digitalocean:index/databaseCluster:DatabaseCluster",
    db: "digitalocean:index/databaseDb:DatabaseDb",
    dbFirewall: "digitalocean:index/databaseFirewall:DatabaseFirewall",
    alert: "digitalocean:index/monitorAlert:MonitorAlert",
    uptimeCheck: "digitalocean:index/uptimeCheck:UptimeCheck",
    uptimeAlert: "digitalocean:index/uptimeAlert:UptimeAlert",
    project: "digitalocean:index/project:Project",
    droplet: "digitalocean:index/droplet:Droplet",
};
const tool = (s: string) => `sudo /usr/local/lib/meteor-do/${s}`;
/** A droplet's id as the (mock) provider assigned it. */
const dropletId = (name: string) => promiseOf((objects.get(name) as pulumi.CustomResource).id);
/** The app's env file as the stage Command received it (the mocks unwrap the secret). */
function envFileOf(host: string): string {
    return named(`release-${host}-stage`).inputs.stdin;
}
const LE_PROD = "https://acme-v02.api.letsencrypt.org/directory";

describe("a stack with no production service configured", () => {
    beforeAll(() => run());

    test("no DNS, database, alerts or Let's Encrypt Commands; the MongoDB env stays external (unset)", () => {
        for (const t of [T.domain, T.record, T.cluster, T.db, T.dbFirewall, T.alert, T.uptimeCheck, T.uptimeAlert])
            expect([t, ofType(t).length]).toEqual([t, 0]);
        const rules = named("net-lb-fw").inputs.inboundRules as { protocol: string }[];
        expect(rules.map((r) => r.protocol)).not.toContain("icmp");
        expect(recorded.filter((r) => r.name.startsWith("lb-letsencrypt"))).toEqual([]);
        expect(envFileOf("app-1")).not.toMatch(/MONGO_/);
    });

    test("one DigitalOcean project holds the droplets and the reserved IP by their DigitalOcean URNs", async () => {
        const [lb, a1, a2] = await Promise.all(["lb-droplet", "app-1", "app-2"].map(dropletId));
        expect(ofType(T.project).map((p) => [p.name, p.inputs])).toEqual([
            [
                "project-project",
                {
                    name: "meteor-do-staging",
                    description: "meteor-do: Meteor app droplets behind an nginx load balancer (managed by Pulumi)",
                    purpose: "Web Application",
                    resources: [
                        `do:droplet:${lb}`,
                        "do:reservedip:198.51.100.10",
                        `do:droplet:${a1}`,
                        `do:droplet:${a2}`,
                    ],
                },
            ],
        ]);
    });
});

describe("DNS (manageDns)", () => {
    test("a zone and an A record on the reserved IP; the record's name is relative to dnsZone", async () => {
        await run({
            domain: "app.example.com",
            manageDns: "true",
            dnsZone: "example.com",
            projectEnvironment: "Production",
        });
        expect(ofType(T.domain).map((r) => [r.name, r.inputs])).toEqual([["dns-zone", { name: "example.com" }]]);
        expect(ofType(T.record).map((r) => [r.name, r.inputs])).toEqual([
            [
                "dns-a",
                {
                    domain: "example.com",
                    type: "A",
                    name: "app",
                    value: "198.51.100.10",
                    ttl: 300,
                },
            ],
        ]);
        const project = named("project-project").inputs;
        const [lb, a1, a2] = await Promise.all(["lb-droplet", "app-1", "app-2"].map(dropletId));
        expect(project.environment).toBe("Production");
        expect(project.resources).toEqual([
            `do:droplet:${lb}`,
            "do:reservedip:198.51.100.10",
            `do:droplet:${a1}`,
            `do:droplet:${a2}`,
            "do:domain:example.com",
        ]);
    });

    test("without dnsZone the zone is the domain and the record is its apex", async () => {
        await run({ domain: "example.com", manageDns: "true" });
        expect(ofType(T.domain).map((r) => r.inputs)).toEqual([{ name: "example.com" }]);
        expect(ofType(T.record).map((r) => r.inputs)).toEqual([
            { domain: "example.com", type: "A", name: "@", value: "198.51.100.10", ttl: 300 },
        ]);
    });

    test("manageDns without a domain fails before anything is registered", async () => {
        try {
            await useMocks({ bundle, manageDns: "true" });
        } catch {
            /* see run() */
        }
        const program = freshProgram();
        await expect(program()).rejects.toThrow(
            "meteor-do:manageDns is true but meteor-do:domain is unset: set the domain whose A record points at the reserved IP",
        );
        expect(recorded).toEqual([]);
    });

    test("recordName: apex, labels under the zone, and a name outside it", () => {
        expect(recordName("example.com", "example.com")).toBe("@");
        expect(recordName("a.b.example.com", "example.com")).toBe("a.b");
        expect(() => recordName("app.example.org", "example.com")).toThrow(
            "SiteDns: app.example.org is not inside the zone example.com",
        );
    });
});

describe("tlsMode letsencrypt", () => {
    const le = {
        tlsMode: "letsencrypt",
        domain: "app.example.com",
        letsencryptEmail: "ops@example.com",
        manageDns: "true",
        dnsZone: "example.com",
    };
    beforeAll(() => run(le));

    test("the self-signed pair is still made and installed first, so nginx can start before issuance", () => {
        expect(named("site-cert").inputs.dnsNames).toEqual(["app.example.com"]);
        expect(named("lb-letsencrypt-prepare").inputs.create).toBe(tool("letsencrypt.sh prepare app.example.com"));
        expect(dependsOn("lb-letsencrypt-prepare")).toEqual(["lb-tls"]);
        expect(dependsOn("lb-config-push")).toEqual(["lb-host-tools", "lb-tls", "lb-letsencrypt-prepare"]);
    });

    test("nginx reads the certificate through letsencrypt.sh's live symlink, without OCSP stapling", async () => {
        const tree = await untarGzBase64(named("lb-config-push").inputs.stdin);
        expect(tree["tls/policy.conf"]).toContain("ssl_certificate /etc/meteor-do/tls/live/fullchain.pem;");
        expect(tree["tls/policy.conf"]).toContain("ssl_certificate_key /etc/meteor-do/tls/live/privkey.pem;");
        expect(tree["tls/policy.conf"]).toContain("ssl_stapling off;");
        expect(tree["sites/http.conf"]).toContain(
            "location ^~ /.well-known/acme-challenge/ {\n        root /var/www/acme;",
        );
    });

    test("certbot runs after the nginx push and the DNS record, against Let's Encrypt production by default", () => {
        const issue = named("lb-certbot-issue");
        expect(issue.inputs.create).toBe(tool(`letsencrypt.sh issue app.example.com ops@example.com ${LE_PROD}`));
        expect(dependsOn("lb-certbot-issue")).toEqual(["lb-letsencrypt-prepare", "lb-config-push", "dns-a"]);
        expect(issue.inputs.triggers.slice(1, 4)).toEqual([
            "domain=app.example.com",
            "email=ops@example.com",
            `server=${LE_PROD}`,
        ]);
    });

    test("letsencryptServer staging (or a URL) reaches certbot", async () => {
        await run({ ...le, letsencryptServer: "staging" });
        expect(named("lb-certbot-issue").inputs.create).toBe(
            tool(
                "letsencrypt.sh issue app.example.com ops@example.com https://acme-staging-v02.api.letsencrypt.org/directory",
            ),
        );
        await run({ ...le, manageDns: "false", letsencryptServer: "https://acme.example.net/dir" });
        expect(named("lb-certbot-issue").inputs.create).toBe(
            tool("letsencrypt.sh issue app.example.com ops@example.com https://acme.example.net/dir"),
        );
        expect(dependsOn("lb-certbot-issue")).toEqual(["lb-letsencrypt-prepare", "lb-config-push"]);
    });

    test("other modes keep write-tls.sh's paths and add no Let's Encrypt Command", async () => {
        await run({ domain: "app.example.com" });
        const tree = await untarGzBase64(named("lb-config-push").inputs.stdin);
        expect(tree["tls/policy.conf"]).toContain("ssl_certificate /etc/meteor-do/tls/fullchain.pem;");
        expect(recorded.filter((r) => r.name.startsWith("lb-letsencrypt"))).toEqual([]);
    });
});

describe("protectStateful", () => {
    const managed = { database: "managed" };
    const protectedOnes = ["db-cluster", "db-db", "lb-ip"];
    const protectOf = (names: string[]) => names.map((n) => [n, named(n).protect === true]);

    test("on by default: the cluster, its database and the reserved IP are protected, nothing else", async () => {
        await run(managed);
        expect(protectOf(protectedOnes)).toEqual(protectedOnes.map((n) => [n, true]));
        expect(recorded.filter((r) => r.protect === true && !protectedOnes.includes(r.name))).toEqual([]);
        // The droplets are replaced on purpose (user-data, image): never protected.
        expect(protectOf(["lb-droplet", "app-1", "db-firewall", "lb-ip-assignment"])).toEqual(
            ["lb-droplet", "app-1", "db-firewall", "lb-ip-assignment"].map((n) => [n, false]),
        );
    });

    test("protectStateful false lifts it deliberately", async () => {
        await run({ ...managed, protectStateful: "false" });
        expect(protectOf(protectedOnes)).toEqual(protectedOnes.map((n) => [n, false]));
        expect(recorded.filter((r) => r.protect === true)).toEqual([]);
    });

    test("with an external database only the reserved IP is protected", async () => {
        await run();
        expect(recorded.filter((r) => r.protect === true).map((r) => r.name)).toEqual(["lb-ip"]);
    });

    test("a value that is not a boolean fails the preview naming the key", async () => {
        const raw: Record<string, string> = { bundle, protectStateful: "maybe" };
        expect(() => loadConfig((k) => raw[k], "staging")).toThrow(
            /meteor-do:protectStateful is "maybe": must be true or false/,
        );
    });
});

describe("database managed", () => {
    const managed = { database: "managed", databaseNodeCount: "3", databaseSize: "db-s-2vcpu-4gb", appCount: "2" };
    beforeAll(() => run(managed));

    test("a MongoDB cluster in the VPC, the app's database, and a firewall that admits only the app tag", () => {
        expect(ofType(T.cluster).map((r) => [r.name, r.inputs])).toEqual([
            [
                "db-cluster",
                {
                    name: "meteor-do-staging-mongodb",
                    engine: "mongodb",
                    version: "7",
                    size: "db-s-2vcpu-4gb",
                    region: "nyc3",
                    nodeCount: 3,
                    privateNetworkUuid: "net-vpc-id",
                },
            ],
        ]);
        expect(ofType(T.db).map((r) => [r.name, r.inputs])).toEqual([
            ["db-db", { clusterId: "db-cluster-id", name: "meteor" }],
        ]);
        // The app's own user: DigitalOcean makes its password, a secret output.
        expect(ofType("digitalocean:index/databaseUser:DatabaseUser").map((r) => [r.name, r.inputs])).toEqual([
            ["db-user", { clusterId: "db-cluster-id", name: "meteor-app" }],
        ]);
        expect(ofType(T.dbFirewall).map((r) => [r.name, r.inputs])).toEqual([
            [
                "db-firewall",
                {
                    clusterId: "db-cluster-id",
                    rules: [{ type: "tag", value: "meteor-do-staging-app" }],
                },
            ],
        ]);
        expect(named("project-project").inputs.resources).toContain("do:dbaas:db-cluster-id");
    });

    test("every app host gets the cluster's CA certificate after its host scripts", () => {
        for (const host of ["app-1", "app-2"]) {
            const ca = named(`db-ca-${host}`);
            expect(ca.inputs.create).toBe(installMongoCa());
            expect(ca.inputs.stdin).toBe("-----BEGIN CERTIFICATE-----\nmock database CA\n-----END CERTIFICATE-----\n");
            expect(dependsOn(`db-ca-${host}`)).toEqual([`${host}-host-tools`]);
        }
        expect(installMongoCa()).toBe(
            "sudo install -d -m 0755 /etc/ssl/meteor-do && sudo install -m 0644 /dev/stdin /etc/ssl/meteor-do/mongodb-ca.pem",
        );
    });

    test("MONGO_URL and MONGO_OPLOG_URL come from the private URI, secret, and wait for the CA on every host", async () => {
        const query = `replicaSet=meteor-do-staging-mongodb&authSource=admin&tls=true&tlsCAFile=${mongoCaPath}`;
        // The app's own user (its password URL-encoded), never the cluster's doadmin.
        const base = "mongodb+srv://meteor-app:Mock-App%2FPass@private-meteor-do-staging-mongodb-0.mongo.example.net";
        for (const host of ["app-1", "app-2"]) {
            const env = envFileOf(host);
            expect(env).toContain(`\nMONGO_URL="${base}/meteor?${query}"\n`);
            expect(env).toContain(`\nMONGO_OPLOG_URL="${base}/local?${query}"\n`);
            expect(env).not.toContain("doadmin");
            expect(env).not.toContain("Mock-Db-Pass");
            const stdin = propsOf(`release-${host}-stage`).stdin;
            expect(await isSecretInput(stdin)).toBe(true);
            // allResources is the SDK's own record of what an Output depends on (internal, not in its typings).
            const deps = await (stdin as unknown as { allResources(): Promise<Set<pulumi.Resource>> }).allResources();
            const urns = await Promise.all([...deps].map((r) => promiseOf(r.urn)));
            expect(
                urns
                    .map((u) => u.split("::").pop())
                    .filter((n) => n!.startsWith("db-ca-"))
                    .sort(),
            ).toEqual(["db-ca-app-1", "db-ca-app-2"]);
        }
    });

    test("the component's URLs are secret Outputs even though the mock provider marks nothing secret", async () => {
        const managedOnly = { database: "managed" } as Parameters<typeof mongoUrls>[0]["services"];
        const db = objects.get("db") as ManagedDatabase;
        expect(await pulumi.isSecret(db.urls.mongoUrl!)).toBe(true);
        expect(await pulumi.isSecret(db.urls.mongoOplogUrl!)).toBe(true);
        expect(mongoUrls({ app: {}, services: managedOnly }, db)).toBe(db.urls);
        expect(() => mongoUrls({ app: {}, services: managedOnly })).toThrow(
            "mongoUrls: database is managed but no ManagedDatabase was given",
        );
    });

    test("databaseOplog false leaves MONGO_OPLOG_URL unset (Meteor polls)", async () => {
        await run({ ...managed, databaseOplog: "false" });
        expect(envFileOf("app-1")).toContain("\nMONGO_URL=");
        expect(envFileOf("app-1")).not.toContain("MONGO_OPLOG_URL");
    });
});

describe("database external", () => {
    test("mongoUrl and mongoOplogUrl reach the env as they are, secret; no cluster", async () => {
        await run({
            mongoUrl: "mongodb://u:p@db.example.com/app?replicaSet=rs0",
            mongoOplogUrl: "mongodb://o:p@db.example.com/local?authSource=admin",
        });
        expect(ofType(T.cluster)).toEqual([]);
        expect(envFileOf("app-1")).toContain('\nMONGO_URL="mongodb://u:p@db.example.com/app?replicaSet=rs0"\n');
        expect(envFileOf("app-1")).toContain(
            '\nMONGO_OPLOG_URL="mongodb://o:p@db.example.com/local?authSource=admin"\n',
        );
        expect(await isSecretInput(propsOf("release-app-1-stage").stdin)).toBe(true);
    });
});

test("mongoUrls, external: the configured URLs as secret Outputs, or nothing", async () => {
    const cfg = loadConfig(
        (k) =>
            (
                ({ bundle, mongoUrl: "mongodb://u:p@db/app", mongoOplogUrl: "mongodb://u:p@db/local" }) as Record<
                    string,
                    string
                >
            )[k],
        "staging",
    );
    const urls = mongoUrls(cfg);
    expect([await pulumi.isSecret(urls.mongoUrl!), await pulumi.isSecret(urls.mongoOplogUrl!)]).toEqual([true, true]);
    expect([await promiseOf(urls.mongoUrl!), await promiseOf(urls.mongoOplogUrl!)]).toEqual([
        "mongodb://u:p@db/app",
        "mongodb://u:p@db/local",
    ]);
    expect(mongoUrls(loadConfig((k) => (({ bundle }) as Record<string, string>)[k], "staging"))).toEqual({
        mongoUrl: undefined,
        mongoOplogUrl: undefined,
    });
});

describe("managedMongoUrls", () => {
    test("keeps host and options, replaces the path, forces admin auth, TLS and the CA file", () => {
        expect(
            managedMongoUrls(
                "mongodb+srv://doadmin:pw@private-x.example.net/admin?tls=true&authSource=admin&replicaSet=x",
                "app",
            ),
        ).toEqual({
            mongoUrl: `mongodb+srv://doadmin:pw@private-x.example.net/app?replicaSet=x&authSource=admin&tls=true&tlsCAFile=${mongoCaPath}`,
            mongoOplogUrl: `mongodb+srv://doadmin:pw@private-x.example.net/local?replicaSet=x&authSource=admin&tls=true&tlsCAFile=${mongoCaPath}`,
        });
        expect(managedMongoUrls("mongodb://doadmin:pw@10.0.0.5:27017", "app").mongoUrl).toBe(
            `mongodb://doadmin:pw@10.0.0.5:27017/app?authSource=admin&tls=true&tlsCAFile=${mongoCaPath}`,
        );
        expect(managedMongoUrls("mongodb://h/admin?ssl=true&tlsCAFile=/x", "app").mongoUrl).toBe(
            `mongodb://h/app?authSource=admin&tls=true&tlsCAFile=${mongoCaPath}`,
        );
    });

    test("with a user, its name and password (URL-encoded) replace the URI's credentials", () => {
        const uri = "mongodb+srv://doadmin:pw@private-x.example.net/admin?tls=true&authSource=admin&replicaSet=x";
        expect(managedMongoUrls(uri, "app", { name: "meteor-app", password: "p@ss:w/rd" })).toEqual({
            mongoUrl: `mongodb+srv://meteor-app:p%40ss%3Aw%2Frd@private-x.example.net/app?replicaSet=x&authSource=admin&tls=true&tlsCAFile=${mongoCaPath}`,
            mongoOplogUrl: `mongodb+srv://meteor-app:p%40ss%3Aw%2Frd@private-x.example.net/local?replicaSet=x&authSource=admin&tls=true&tlsCAFile=${mongoCaPath}`,
        });
        expect(managedMongoUrls("mongodb://h:27017/admin", "app", { name: "u", password: "v" }).mongoUrl).toBe(
            `mongodb://u:v@h:27017/app?authSource=admin&tls=true&tlsCAFile=${mongoCaPath}`,
        );
    });

    test("a URI that is not mongodb:// fails without echoing it", () => {
        expect(() => managedMongoUrls("postgres://doadmin:S3cr3t@h/db", "app")).toThrow(
            /^the cluster's private URI is not a mongodb:\/\/ URL$/,
        );
    });
});

describe("alerts (alertEmails)", () => {
    const expected = (
        target: string,
        what: string,
        kind: "droplet" | "dbaas",
        where: object,
        thresholds = { cpu: 80, memory: 85, disk: 85 },
        window = "5m",
    ) => {
        const types =
            kind === "droplet"
                ? {
                      cpu: "v1/insights/droplet/cpu",
                      memory: "v1/insights/droplet/memory_utilization_percent",
                      disk: "v1/insights/droplet/disk_utilization_percent",
                  }
                : {
                      cpu: "v1/dbaas/alerts/cpu_alerts",
                      memory: "v1/dbaas/alerts/memory_utilization_alerts",
                      disk: "v1/dbaas/alerts/disk_utilization_alerts",
                  };
        const label = { cpu: "CPU", memory: "memory", disk: "disk" };
        return (["cpu", "memory", "disk"] as const).map((m): [string, unknown] => [
            `alerts-${target}-${m}`,
            {
                alerts: { emails: ["ops@example.com", "oncall@example.com"] },
                description: `meteor-do-staging ${what}: ${label[m]} above ${thresholds[m]}% for ${window}`,
                type: types[m],
                compare: "GreaterThan",
                value: thresholds[m],
                window,
                enabled: true,
                ...where,
            },
        ]);
    };
    const emails = JSON.stringify(["ops@example.com", "oncall@example.com"]);
    // Registration order follows when each alert's inputs resolve; compare by name.
    const byName = (a: [string, unknown], b: [string, unknown]) => a[0].localeCompare(b[0]);
    const alertsByName = () =>
        ofType(T.alert)
            .map((a): [string, unknown] => [a.name, a.inputs])
            .sort(byName);

    test("CPU, memory and disk on the app tag and on the LB droplet, with the default thresholds", async () => {
        await run({ alertEmails: emails });
        const lb = await dropletId("lb-droplet");
        expect(alertsByName()).toEqual(
            [
                ...expected("app", "app droplets", "droplet", { tags: ["meteor-do-staging-app"] }),
                ...expected("lb", "load balancer", "droplet", { entities: [lb] }),
            ].sort(byName),
        );
    });

    test("Uptime: the site checked over HTTPS (down, certificate expiry) and the LB droplet pinged (down)", async () => {
        await run({ alertEmails: emails });
        const notifications = [{ emails: ["ops@example.com", "oncall@example.com"] }];
        const regions = ["us_east", "us_west", "eu_west", "se_asia"];
        expect(
            ofType(T.uptimeCheck)
                .map((c): [string, unknown] => [c.name, c.inputs])
                .sort(byName),
        ).toEqual([
            [
                "alerts-lb-ping",
                {
                    name: "meteor-do-staging load balancer droplet",
                    type: "ping",
                    target: "198.51.100.10",
                    regions,
                    enabled: true,
                },
            ],
            [
                "alerts-site",
                {
                    name: "meteor-do-staging site",
                    type: "https",
                    target: "https://198.51.100.10",
                    regions,
                    enabled: true,
                },
            ],
        ]);
        expect(
            ofType(T.uptimeAlert)
                .map((a): [string, unknown] => [a.name, a.inputs])
                .sort(byName),
        ).toEqual(
            (
                [
                    [
                        "alerts-site-down",
                        {
                            checkId: "alerts-site-id",
                            name: "meteor-do-staging site down",
                            notifications,
                            type: "down",
                            period: "2m",
                        },
                    ],
                    [
                        "alerts-site-certificate",
                        {
                            checkId: "alerts-site-id",
                            name: "meteor-do-staging certificate expires within 14 days",
                            notifications,
                            type: "ssl_expiry",
                            comparison: "less_than",
                            threshold: 14,
                            period: "2m",
                        },
                    ],
                    [
                        "alerts-lb-down",
                        {
                            checkId: "alerts-lb-ping-id",
                            name: "meteor-do-staging load balancer droplet down",
                            notifications,
                            type: "down",
                            period: "2m",
                        },
                    ],
                ] as [string, unknown][]
            ).sort(byName),
        );
        // Uptime pings from anywhere: the LB firewall admits ICMP only while the ping check exists.
        expect(named("net-lb-fw").inputs.inboundRules).toContainEqual({
            protocol: "icmp",
            sourceAddresses: ["0.0.0.0/0", "::/0"],
        });
    });

    test("lbCount 2: both LB droplets' metrics, and a ping of each droplet's own address", async () => {
        await run({ alertEmails: emails, lbCount: "2", failoverApiToken: "dop_v1_" + "a".repeat(64) });
        const lbs = [await dropletId("lb-droplet"), await dropletId("lb-1-droplet")];
        expect(new Set(lbs).size).toBe(2);
        expect(named("alerts-lb-cpu").inputs.entities).toEqual(lbs);
        const own = async (n: string) => promiseOf((objects.get(`${n}-droplet`) as digitalocean.Droplet).ipv4Address);
        for (const n of ["lb", "lb-1"]) {
            expect(named(`alerts-${n}-droplet-ping`).inputs).toMatchObject({ type: "ping", target: await own(n) });
            expect(named(`alerts-${n}-droplet-down`).inputs).toMatchObject({
                checkId: `alerts-${n}-droplet-ping-id`,
                name: `meteor-do-staging load balancer ${n} down`,
                type: "down",
            });
        }
        // The reserved IP's ping stays: it is the one the site answers on.
        expect(named("alerts-lb-ping").inputs.target).toBe("198.51.100.10");
    });

    test("with a domain, the site check targets it", async () => {
        await run({ alertEmails: emails, domain: "app.example.com" });
        expect(named("alerts-site").inputs.target).toBe("https://app.example.com");
        expect(named("alerts-lb-ping").inputs.target).toBe("198.51.100.10");
    });

    test("configured thresholds and window; the managed database gets its own three", async () => {
        await run({
            alertEmails: emails,
            alertCpuPercent: "90",
            alertMemoryPercent: "70",
            alertDiskPercent: "60",
            alertWindow: "10m",
            database: "managed",
        });
        const t = { cpu: 90, memory: 70, disk: 60 };
        const lb = await dropletId("lb-droplet");
        expect(alertsByName()).toEqual(
            [
                ...expected("app", "app droplets", "droplet", { tags: ["meteor-do-staging-app"] }, t, "10m"),
                ...expected("lb", "load balancer", "droplet", { entities: [lb] }, t, "10m"),
                ...expected("db", "MongoDB cluster", "dbaas", { entities: ["db-cluster-id"] }, t, "10m"),
            ].sort(byName),
        );
    });
});

test("preview with every service on registers them all (unknown ids and URIs included)", async () => {
    await run(
        {
            tlsMode: "letsencrypt",
            domain: "app.example.com",
            letsencryptEmail: "ops@example.com",
            manageDns: "true",
            database: "managed",
            alertEmails: '["ops@example.com"]',
            projectEnvironment: "Staging",
        },
        true,
    );
    const count = (t: string) => ofType(t).length;
    expect(
        [T.domain, T.record, T.cluster, T.db, T.dbFirewall, T.alert, T.uptimeCheck, T.uptimeAlert, T.project].map(
            count,
        ),
    ).toEqual([1, 1, 1, 1, 1, 9, 2, 3, 1]);
    expect(
        ["lb-letsencrypt-prepare", "lb-certbot-issue", "db-ca-app-1", "db-ca-app-2"].map((n) => named(n).type),
    ).toEqual(Array(4).fill("command:remote:Command"));
});
