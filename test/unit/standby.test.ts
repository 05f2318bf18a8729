import * as fs from "fs";
import * as path from "path";
import { execFileSync } from "child_process";
import { ConfigError, loadConfig } from "../../components/config";
import { configureCommand } from "../../components/failover";
import { untarGzBase64 } from "../support/untar";
import { isSecretInput, named, ofType, props, recorded, runProgram, tempBundle, waitsFor } from "../support/mocks";

// lbCount 2: two LB droplets sharing one reserved IP that keepalived (not the program) assigns; the
// failover API token reaches the hosts only as secret stdin. lbCount 1: the resources of today's topology.
jest.setTimeout(60_000);

const TOKEN = "dop_v1_0123456789abcdefTOKENvalue";
const DROPLET = "digitalocean:index/droplet:Droplet";
const COMMAND = "command:remote:Command";
const fixturePath = path.join(__dirname, "fixtures", "lbcount1-resources.json");

let fixture: ReturnType<typeof tempBundle>;
beforeAll(() => (fixture = tempBundle("standby-")));
afterAll(() => fixture.remove());
const run = (config: Record<string, string>) => runProgram({ bundle: fixture.bundle, ...config });

describe("lbCount 2", () => {
    let outputs: Record<string, unknown>;
    beforeAll(async () => (outputs = await run({ lbCount: "2", failoverApiToken: TOKEN })));

    test("outputs list both LBs at their own addresses; the site and its status page stay on the reserved IP", () => {
        const n = (name: string) => recorded.findIndex((r) => r.name === name) + 1;
        const [lb0, lb1] = [n("lb-droplet"), n("lb-1-droplet")];
        expect(outputs).toMatchObject({
            siteUrl: "https://198.51.100.10",
            checkStatusUrl: "https://198.51.100.10/check-status",
            loadBalancers: [
                { name: "meteor-do-staging-lb", publicIp: `203.0.113.${lb0}`, privateIp: `10.116.0.${lb0}` },
                { name: "meteor-do-staging-lb-1", publicIp: `203.0.113.${lb1}`, privateIp: `10.116.0.${lb1}` },
            ],
        });
        const ops = outputs.ops as { lb: { publicIp: string }; lbs: { name: string; publicIp: string }[] };
        expect(ops.lb.publicIp).toBe("198.51.100.10");
        expect(ops.lbs.map((l) => [l.name, l.publicIp])).toEqual([
            ["lb", `203.0.113.${lb0}`],
            ["lb-1", `203.0.113.${lb1}`],
        ]);
    });

    test("two LB droplets, one reserved IP, no assignment (keepalived owns the address)", () => {
        const lbs = ofType(DROPLET).filter((d) => d.name.startsWith("lb"));
        expect(lbs.map((d) => [d.name, d.inputs.name, d.inputs.size])).toEqual([
            ["lb-droplet", "meteor-do-staging-lb", "s-1vcpu-1gb"],
            ["lb-1-droplet", "meteor-do-staging-lb-1", "s-1vcpu-1gb"],
        ]);
        expect(ofType("digitalocean:index/reservedIp:ReservedIp").map((r) => r.name)).toEqual(["lb-ip"]);
        expect(ofType("digitalocean:index/reservedIpAssignment:ReservedIpAssignment")).toEqual([]);
    });

    test("the token is in no plain input: only the two token Commands carry it, as secret stdin", async () => {
        const carriers: string[] = [];
        for (const r of recorded) {
            for (const [key, value] of Object.entries(r.inputs)) {
                if (!JSON.stringify(value ?? null).includes(TOKEN)) continue;
                carriers.push(`${r.name}.${key}`);
                expect([r.name, key, await isSecretInput(props.get(r.name)![key])]).toEqual([r.name, key, true]);
            }
        }
        expect(carriers.sort()).toEqual(["lb-1-failover-token.stdin", "lb-failover-token.stdin"]);
        // Its hash in the triggers is secret too (a token change writes the file again).
        const triggers = props.get("lb-failover-token")!.triggers;
        expect(named("lb-failover-token").inputs.triggers[1]).toMatch(/^token=[0-9a-f]{64}$/);
        expect(await isSecretInput(triggers[1])).toBe(true);
    });

    test("each LB's Commands reach its droplet's own address; app hosts go through lb-0", () => {
        const ip = (name: string) => `203.0.113.${recorded.findIndex((r) => r.name === name) + 1}`;
        for (const c of ofType(COMMAND)) {
            const host = c.inputs.connection.proxy?.host ?? c.inputs.connection.host;
            if (c.name.startsWith("lb-1-") || c.name.endsWith("-lb-1"))
                expect([c.name, c.inputs.connection.host]).toEqual([c.name, ip("lb-1-droplet")]);
            else expect([c.name, host]).toEqual([c.name, ip("lb-droplet")]);
        }
    });

    test("WireGuard and the admin port between the LBs only; the tunnel and keepalived after nginx", () => {
        const rules = named("net-lb-fw").inputs.inboundRules;
        expect(rules).toContainEqual({ protocol: "udp", portRange: "51820", sourceTags: ["meteor-do-staging-lb"] });
        expect(rules).toContainEqual({ protocol: "tcp", portRange: "8181", sourceTags: ["meteor-do-staging-lb"] });
        for (const [lb, push] of [
            ["lb", "lb-config-push"],
            ["lb-1", "lb-1-config-push"],
        ]) {
            const waits = waitsFor(`${lb}-failover`);
            for (const need of [`${lb}-failover-token`, push, "lb-wg-key", "lb-1-wg-key"])
                expect([lb, need, waits.has(need)]).toEqual([lb, need, true]);
        }
        // lb-0 is master before lb-1's keepalived starts: no address move on a first up.
        expect(waitsFor("lb-1-failover").has("lb-failover")).toBe(true);
        expect(waitsFor("lb-failover").has("lb-1-failover")).toBe(false);
        // The delete removes only the configuration its own create made (a replacement creates first).
        const generation = /--generation ([0-9a-f]{64})$/.exec(named("lb-failover").inputs.create)![1];
        expect(named("lb-failover").inputs.delete).toBe(
            `sudo /usr/local/lib/meteor-do/failover.sh remove --generation ${generation}`,
        );
    });

    test("each LB runs configure with its own droplet id and private address, and the other's", () => {
        // The mocks number resources in registration order: droplet id 1000+n, public IP 203.0.113.n, private 10.116.0.n.
        const n = (name: string) => recorded.findIndex((r) => r.name === name) + 1;
        const [lb0, lb1] = [n("lb-droplet"), n("lb-1-droplet")];
        const gen = (c: string) => /--generation ([0-9a-f]{64})$/.exec(named(c).inputs.create)?.[1];
        expect(gen("lb-failover")).not.toBe(gen("lb-1-failover"));
        expect(named("lb-failover").inputs.create).toBe(
            `sudo /usr/local/lib/meteor-do/failover.sh configure --index 0 --self-private 10.116.0.${lb0} --peer-private 10.116.0.${lb1} --peer-key '' --reserved-ip 198.51.100.10 --droplet-id ${1000 + lb0} --api https://api.digitalocean.com --generation ${gen("lb-failover")}`,
        );
        expect(named("lb-1-failover").inputs.create).toBe(
            `sudo /usr/local/lib/meteor-do/failover.sh configure --index 1 --self-private 10.116.0.${lb1} --peer-private 10.116.0.${lb0} --peer-key '' --reserved-ip 198.51.100.10 --droplet-id ${1000 + lb1} --api https://api.digitalocean.com --generation ${gen("lb-1-failover")}`,
        );
    });

    test("both LB droplets are in the stack's DigitalOcean project", () => {
        const n = (name: string) => recorded.findIndex((r) => r.name === name) + 1;
        const resources = named("project-project").inputs.resources as string[];
        for (const d of ["lb-droplet", "lb-1-droplet"]) expect(resources).toContain(`do:droplet:${1000 + n(d)}`);
    });

    test("the same nginx configuration and certificate on both LBs, bastion rules on both", async () => {
        expect(named("lb-1-tls").inputs.stdin).toBe(named("lb-tls").inputs.stdin);
        expect(ofType("tls:index/selfSignedCert:SelfSignedCert")).toHaveLength(1);
        expect(named("app-bastion-lb-1").inputs.create).toBe(named("app-bastion").inputs.create);
        expect(named("lb-1-config-push").inputs.create).toBe(named("lb-config-push").inputs.create);
    });
});

describe("lbCount 2: app hosts drain on both LBs", () => {
    beforeAll(() => run({ lbCount: "2", failoverApiToken: TOKEN, appCount: "2" }));
    const n = (name: string) => recorded.findIndex((r) => r.name === name) + 1;

    test("cutover, retire and the reboot window name both LBs' private addresses", () => {
        const both = `10.116.0.${n("lb-droplet")},10.116.0.${n("lb-1-droplet")}`;
        expect(named("release-app-1-cutover").inputs.create).toContain(` --lb ${both} `);
        expect(named("app-2-retire").inputs.delete).toContain(` --lb ${both} `);
        expect(named("app-1-runtime").inputs.create).toMatch(
            new RegExp(`reboot-window\\.sh install [0-9:]+ [0-9.:]+ ${both}$`),
        );
        // The release waits for both LBs' configuration.
        const waits = waitsFor("release-app-1-cutover");
        expect([waits.has("lb-config-push"), waits.has("lb-1-config-push")]).toEqual([true, true]);
    });

    test("a resize pauses and resumes the host on both LBs, lb last, one host after another", () => {
        expect(named("app-1-pause-lb-1").inputs.update).toBe(named("app-1-pause").inputs.update);
        expect(named("app-1-pause-lb-1").inputs.connection.host).toBe(`203.0.113.${n("lb-1-droplet")}`);
        expect(waitsFor("app-1-pause").has("app-1-pause-lb-1")).toBe(true);
        expect(waitsFor("app-1-resume").has("app-1-resume-lb-1")).toBe(true);
        expect(waitsFor("app-1-resume-lb-1").has("app-1")).toBe(true);
        expect(waitsFor("app-2-pause-lb-1").has("app-1-resume")).toBe(true);
    });
});

describe("lbCount 2 with Let's Encrypt", () => {
    beforeAll(() =>
        run({
            lbCount: "2",
            failoverApiToken: TOKEN,
            tlsMode: "letsencrypt",
            domain: "app.example.com",
            letsencryptEmail: "ops@example.com",
        }),
    );

    test("each LB runs its own certbot once both serve the challenge fallback and the address is on one", async () => {
        for (const [certbot, prepare] of [
            ["lb-certbot-issue", "lb-letsencrypt-prepare"],
            ["lb-1-certbot-issue", "lb-1-letsencrypt-prepare"],
        ]) {
            const waits = waitsFor(certbot);
            for (const need of [prepare, "lb-config-push", "lb-1-config-push", "lb-failover", "lb-1-failover"])
                expect([certbot, need, waits.has(need)]).toEqual([certbot, need, true]);
        }
        expect(named("lb-1-certbot-issue").inputs.connection.host).toBe(named("lb-1-failover").inputs.connection.host);
        // Each LB asks the other for a challenge it does not hold.
        const n = (name: string) => recorded.findIndex((r) => r.name === name) + 1;
        const tree = await untarGzBase64(named("lb-config-push").inputs.stdin);
        expect(tree["sites/http.conf"]).toContain(`proxy_pass http://10.116.0.${n("lb-1-droplet")}:80;`);
        const tree1 = await untarGzBase64(named("lb-1-config-push").inputs.stdin);
        expect(tree1["sites/http.conf"]).toContain(`proxy_pass http://10.116.0.${n("lb-droplet")}:80;`);
    });
});

describe("lbCount 1", () => {
    test("the resources of the topology before lbCount (names and types)", async () => {
        await run({});
        const now = recorded.map((r) => `${r.type}::${r.name}`).sort();
        if (process.env.WRITE_LBCOUNT1_FIXTURE) fs.writeFileSync(fixturePath, JSON.stringify(now, null, 4) + "\n"); // then prettier --write
        expect(now).toEqual(JSON.parse(fs.readFileSync(fixturePath, "utf8")));
        expect(named("lb-ip-assignment").inputs.dropletId).toBeDefined();
        expect(named("net-lb-fw").inputs.inboundRules.map((r) => r.protocol)).not.toContain("udp");
    });

    test("the assignment, and nothing else, is retained on delete: lbCount 1 -> 2 drops it, the address stays", async () => {
        await run({});
        expect(recorded.filter((r) => r.retainOnDelete === true).map((r) => r.name)).toEqual(["lb-ip-assignment"]);
        await run({ lbCount: "2", failoverApiToken: TOKEN });
        expect(recorded.filter((r) => r.name.endsWith("ip-assignment"))).toEqual([]);
    });
});

describe("bad values fail the preview, naming the key", () => {
    const problemsOf = (values: Record<string, string>): string[] => {
        try {
            loadConfig((key) => ({ bundle: fixture.bundle, ...values })[key], "staging");
        } catch (e) {
            if (e instanceof ConfigError) return e.problems;
            throw e;
        }
        return [];
    };
    const count = "must be 1 (one load balancer) or 2 (an active and a standby that takes the reserved IP over)";

    test.each(["3", "0", "two"])("lbCount %s", (v) => {
        expect(problemsOf({ lbCount: v, failoverApiToken: TOKEN })).toEqual([`meteor-do:lbCount is "${v}": ${count}`]);
    });

    test("lbCount 2 without failoverApiToken", () => {
        expect(problemsOf({ lbCount: "2" })).toEqual([
            "meteor-do:failoverApiToken is required when meteor-do:lbCount is 2 (a DigitalOcean token with reserved_ip read and update: pulumi config set --secret failoverApiToken <token>)",
        ]);
    });

    test.each(["https://api.example.com/v2", "ftp://api.example.com", "api.digitalocean.com"])(
        "digitaloceanApiUrl %s",
        (v) => {
            expect(problemsOf({ digitaloceanApiUrl: v })).toEqual([
                `meteor-do:digitaloceanApiUrl is "${v}": must be an http(s) URL without a path, e.g. https://api.digitalocean.com`,
            ]);
        },
    );

    test("an accepted URL and port reach the config, without a trailing slash", () => {
        const cfg = loadConfig(
            (key) =>
                ({
                    bundle: fixture.bundle,
                    lbCount: "2",
                    failoverApiToken: TOKEN,
                    digitaloceanApiUrl: "http://127.0.0.1:8085/",
                })[key],
            "staging",
        );
        expect([cfg.lb.count, cfg.lb.failover?.apiUrl]).toEqual([2, "http://127.0.0.1:8085"]);
    });
});

test("the configure line quotes nothing a shell could read twice", () => {
    const line = configureCommand({
        index: 0,
        selfPrivateIp: "10.0.0.2",
        peerPrivateIp: "10.0.0.3",
        peerKey: "x".repeat(43) + "=",
        reservedIp: "198.51.100.10",
        dropletId: "123",
        apiUrl: "https://api.digitalocean.com",
        generation: "f".repeat(64),
    });
    expect(execFileSync("bash", ["-c", `printf '%s\\n' ${line.replace(/^sudo /, "")}`]).toString()).toBe(
        [
            "/usr/local/lib/meteor-do/failover.sh",
            "configure",
            "--index",
            "0",
            "--self-private",
            "10.0.0.2",
            "--peer-private",
            "10.0.0.3",
            "--peer-key",
            "x".repeat(43) + "=",
            "--reserved-ip",
            "198.51.100.10",
            "--droplet-id",
            "123",
            "--api",
            "https://api.digitalocean.com",
            "--generation",
            "f".repeat(64),
            "",
        ].join("\n"),
    );
});
