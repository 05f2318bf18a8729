import {
    freshProgram,
    isSecretInput,
    mockFingerprint,
    mockPublicKey,
    named,
    ofType,
    props,
    recorded,
    runProgram,
    tempBundle,
    useMocks,
    waitsFor,
} from "../support/mocks";
import { sha256 } from "../../components/hash";
import { hostScripts } from "../../components/hostTools";
import { untarGzBase64 } from "../support/untar";

// The whole program (index.ts) under mocks: what it registers, with which inputs, in which order.
// One evaluation loads and registers everything; on a busy machine that takes longer than jest's 5 s.
jest.setTimeout(60_000);

let fixture: ReturnType<typeof tempBundle>;
beforeAll(() => (fixture = tempBundle("program-")));
afterAll(() => fixture.remove());

const run = (config: Record<string, string> = {}, preview = false) =>
    runProgram({ bundle: fixture.bundle, ...config }, preview);

const DROPLET = "digitalocean:index/droplet:Droplet";
const COMMAND = "command:remote:Command";
const droplets = () => ofType(DROPLET);

describe.each([1, 3, 7])("appCount %i", (n) => {
    beforeAll(() => run({ appCount: String(n) }));

    test("one LB droplet and exactly appCount app droplets, all debian-12-x64 in the VPC", () => {
        const names = droplets()
            .map((d) => d.name)
            .sort();
        expect(names).toEqual(["lb-droplet", ...Array.from({ length: n }, (_, i) => `app-${i + 1}`)].sort());
        for (const d of droplets()) {
            expect(d.inputs.image).toBe("debian-12-x64");
            expect(d.inputs.vpcUuid).toBe("net-vpc-id");
            expect(d.inputs.region).toBe("nyc3");
            // The role's own deploy key.
            const key = d.name === "lb-droplet" ? "deploy-key" : "deploy-app-key";
            expect(d.inputs.sshKeys).toEqual([mockFingerprint(mockPublicKey(key))]);
        }
    });

    test("app droplets: named per stack, tagged, sized, user-data from the app template", () => {
        for (let i = 1; i <= n; i++) {
            const d = named(`app-${i}`);
            expect(d.inputs).toMatchObject({
                name: `meteor-do-staging-app-${i}`,
                size: "s-1vcpu-2gb",
                tags: ["meteor-do-staging-app"],
                backups: false,
                monitoring: true,
            });
            expect(d.inputs.userData).toMatch(
                /^#cloud-config\n# meteor-do app droplet: the users, the meteor-app unit/,
            );
        }
    });

    test("every host's cloud-init gate precedes every other Command of that host", () => {
        const commands = ofType(COMMAND);
        const hosts = new Map<string, string>(); // host address -> gate name
        for (const c of commands.filter((c) => c.name.endsWith("-cloud-init")))
            hosts.set(c.inputs.connection.host, c.name);
        expect(hosts.size).toBe(n + 1);
        for (const c of commands) {
            const gate = hosts.get(c.inputs.connection.host);
            expect([c.name, gate]).toEqual([c.name, expect.any(String)]);
            if (c.name !== gate) expect([c.name, waitsFor(c.name).has(gate!)]).toEqual([c.name, true]);
        }
        // Copies to a host (bundle uploads) wait for it as well.
        for (const copy of ofType("command:remote:CopyToRemote")) {
            const gate = hosts.get(copy.inputs.connection.host)!;
            expect([copy.name, waitsFor(copy.name).has(gate)]).toEqual([copy.name, true]);
        }
    });
});

describe("a default stack", () => {
    let outputs: Record<string, unknown>;
    beforeAll(async () => {
        outputs = await run({ appCount: "2" });
    });

    test("stack outputs", () => {
        expect(outputs).toMatchObject({
            siteUrl: "https://198.51.100.10",
            lbReservedIp: "198.51.100.10",
            checkStatusUrl: "https://198.51.100.10/check-status",
            appPrivateIps: [expect.stringMatching(/^10\.116\.0\.\d+$/), expect.stringMatching(/^10\.116\.0\.\d+$/)],
            deployPublicKey: mockPublicKey("deploy-key"),
            vpcIpRange: "10.116.0.0/20",
        });
        expect((outputs.release as { sha256: string }).sha256).toMatch(/^[0-9a-f]{64}$/);
    });

    test("VPC: region, no fixed range unless configured, named per stack", () => {
        expect(named("net-vpc").inputs).toEqual({ name: "meteor-do-staging-vpc", region: "nyc3" });
    });

    test("firewalls: app accepts app port and SSH only from the LB; LB 80/443 from anywhere, SSH from anywhere without adminCidrs, admin port from apps", () => {
        const outbound = [
            { protocol: "tcp", portRange: "1-65535", destinationAddresses: ["0.0.0.0/0", "::/0"] },
            { protocol: "udp", portRange: "1-65535", destinationAddresses: ["0.0.0.0/0", "::/0"] },
            { protocol: "icmp", destinationAddresses: ["0.0.0.0/0", "::/0"] },
        ];
        expect(named("net-app-fw").inputs).toEqual({
            name: "meteor-do-staging-app",
            tags: ["meteor-do-staging-app"],
            inboundRules: [
                { protocol: "tcp", portRange: "3000", sourceTags: ["meteor-do-staging-lb"] },
                { protocol: "tcp", portRange: "22", sourceTags: ["meteor-do-staging-lb"] },
            ],
            outboundRules: outbound,
        });
        expect(named("net-lb-fw").inputs).toEqual({
            name: "meteor-do-staging-lb",
            tags: ["meteor-do-staging-lb"],
            inboundRules: [
                { protocol: "tcp", portRange: "80", sourceAddresses: ["0.0.0.0/0", "::/0"] },
                { protocol: "tcp", portRange: "443", sourceAddresses: ["0.0.0.0/0", "::/0"] },
                { protocol: "tcp", portRange: "22", sourceAddresses: ["0.0.0.0/0", "::/0"] },
                { protocol: "tcp", portRange: "8181", sourceTags: ["meteor-do-staging-app"] },
            ],
            outboundRules: outbound,
        });
    });

    test("LB: droplet with the LB user-data, reserved IP assigned to it", () => {
        const lb = named("lb-droplet");
        expect(lb.inputs).toMatchObject({
            name: "meteor-do-staging-lb",
            size: "s-1vcpu-1gb",
            tags: ["meteor-do-staging-lb"],
        });
        expect(lb.inputs.userData).toMatch(/^#cloud-config\n# meteor-do load-balancer droplet/);
        expect(named("lb-ip").inputs).toEqual({ region: "nyc3" });
        expect(named("lb-ip-assignment").inputs).toEqual({ ipAddress: "198.51.100.10", dropletId: expect.any(Number) });
        expect(named("lb-host-cloud-init").dependsOn).toEqual(["lb-ip-assignment"]);
    });

    test("deploy keys: one per role, ED25519, registered; LB Commands use the LB's, app Commands the app hosts' (the LB's for the hop)", async () => {
        for (const [key, account] of [
            ["deploy", "meteor-do-staging-deploy"],
            ["deploy-app", "meteor-do-staging-deploy-app"],
        ]) {
            expect(named(`${key}-key`).inputs).toEqual({ algorithm: "ED25519" });
            expect(named(`${key}-sshkey`).inputs).toEqual({ name: account, publicKey: mockPublicKey(`${key}-key`) });
        }
        const privateOf = (key: string) => `private ${key}-key`;
        const b64 = (t: string) => Buffer.from(t).toString("base64");
        for (const c of ofType(COMMAND)) {
            expect(c.inputs.connection.user).toBe("deploy");
            const lbSide = c.inputs.connection.host === "198.51.100.10";
            expect(c.inputs.connection.privateKey).toContain(b64(privateOf(lbSide ? "deploy" : "deploy-app")));
            if (!lbSide) expect(c.inputs.connection.proxy?.privateKey).toContain(b64(privateOf("deploy")));
        }
    });

    test("app Commands go through the LB as bastion; LB Commands go to the reserved IP", () => {
        for (const c of ofType(COMMAND)) {
            if (c.inputs.connection.host === "198.51.100.10") {
                expect(c.inputs.connection.proxy).toBeUndefined();
            } else {
                expect(c.inputs.connection.host).toMatch(/^10\.116\.0\.\d+$/);
                expect(c.inputs.connection.proxy).toMatchObject({
                    host: "198.51.100.10",
                    user: "deploy",
                    dialErrorLimit: 60,
                    perDialTimeout: 15,
                });
            }
            expect(c.inputs.connection).toMatchObject({ dialErrorLimit: 60, perDialTimeout: 15 });
        }
    });

    test("TLS: a self-signed certificate for the reserved IP, installed before the nginx push", () => {
        expect(named("site-key").inputs).toEqual({ algorithm: "ECDSA", ecdsaCurve: "P256" });
        expect(named("site-cert").inputs).toMatchObject({ ipAddresses: ["198.51.100.10"], validityPeriodHours: 8760 });
        expect(named("lb-tls").inputs.create).toBe("sudo /usr/local/lib/meteor-do/write-tls.sh");
        expect(waitsFor("lb-config-push").has("lb-tls")).toBe(true);
        expect(waitsFor("lb-config-push").has("lb-host-tools")).toBe(true);
    });
});

const everyService = {
    appCount: "2",
    domain: "app.example.com",
    tlsMode: "letsencrypt",
    letsencryptEmail: "ops@example.com",
    manageDns: "true",
    database: "managed",
};
describe.each([
    ["a default stack", { appCount: "2" }],
    ["every service on", everyService],
])("a replaced droplet gets every Command again (%s)", (_label, config) => {
    beforeAll(() => run(config));

    test("the droplet id is in the triggers of every Command of its host", () => {
        // Host address -> its droplet's id, as the gate's trigger carries it.
        const hostIds = new Map<string, string>();
        for (const c of ofType(COMMAND).filter((c) => c.name.endsWith("-cloud-init")))
            hostIds.set(c.inputs.connection.host, c.inputs.triggers[0]);
        expect([...hostIds.values()].every((id) => /^droplet=\d+$/.test(id))).toBe(true);
        expect(new Set(hostIds.values()).size).toBe(3);
        // Commands without `create` (a resize's pause and resume, a removed host's retire) run only on a
        // change of their own inputs or on delete: a new droplet is not a reason to run them.
        const creating = ofType(COMMAND).filter((c) => c.inputs.create !== undefined);
        expect(
            ofType(COMMAND)
                .filter((c) => c.inputs.create === undefined)
                .map((c) => c.name)
                .sort(),
        ).toEqual(["app-1", "app-2"].flatMap((h) => [`${h}-pause`, `${h}-resume`, `${h}-retire`]));
        for (const c of [...creating, ...ofType("command:remote:CopyToRemote")]) {
            const id = hostIds.get(c.inputs.connection.host);
            expect([c.name, c.inputs.triggers]).toEqual([c.name, expect.arrayContaining([id])]);
        }
    });
});

describe("a new Node.js version rolls the hosts instead of replacing them", () => {
    const snapshot = async (config: Record<string, string>) => {
        await run({ appCount: "2", ...config });
        return Object.fromEntries(recorded.map((r) => [r.name, r.inputs]));
    };

    test("the runtime Command installs the configured Node.js after the host scripts, before the release", async () => {
        await run({ appCount: "2", nodeVersion: "22.11.0", stopGraceSeconds: "15", appMemoryMax: "1536M" });
        const lua = (await untarGzBase64(named("lb-config-push").inputs.stdin))["lua/meteor_do/config.lua"];
        for (const i of [1, 2]) {
            const runtime = named(`app-${i}-runtime`);
            // The app listens on its host's private address: the one the LB's config has for it.
            const bindIp = /app-unit\.sh 25 (10\.116\.0\.[0-9]+) /.exec(runtime.inputs.create)?.[1];
            // One app host per reboot window: 04:00, 04:30; its peer is its private address.
            const window = ["04:00", "04:30"][i - 1];
            expect(runtime.inputs.create).toMatch(
                new RegExp(
                    `^sudo /usr/local/lib/meteor-do/install-node.sh 22.11.0 https://nodejs.org/dist && sudo /usr/local/lib/meteor-do/app-unit.sh 25 ${bindIp} 1536M` +
                        ` && sudo /usr/local/lib/meteor-do/reboot-window.sh install ${window} ${bindIp}:3000 10[.]116[.]0[.][0-9]+$`,
                ),
            );
            expect(lua).toContain(`{ ip = "${bindIp}", port = 3000, host = "meteor-do-staging-app-${i}" },`);
            expect(runtime.inputs.triggers.slice(1)).toEqual([
                "node=22.11.0",
                "nodeDist=https://nodejs.org/dist",
                "stopGrace=15",
                "memoryMax=1536M",
                `appUnit=${sha256(hostScripts()["app-unit.sh"])}`,
            ]);
            expect(runtime.dependsOn).toEqual([`app-${i}-host-tools`]);
            expect(waitsFor(`release-app-${i}-stage`).has(`app-${i}-runtime`)).toBe(true);
        }
    });

    test("changing nodeVersion changes no droplet, no upload, no stage; every cutover (and runtime) runs again", async () => {
        const before = await snapshot({ nodeVersion: "22.11.0" });
        const after = await snapshot({ nodeVersion: "22.12.0" });
        const changed = Object.keys(after).filter(
            (n) =>
                JSON.stringify(after[n].triggers ?? after[n].userData) !==
                JSON.stringify(before[n].triggers ?? before[n].userData),
        );
        expect(changed.sort()).toEqual([
            "app-1-runtime",
            "app-2-runtime",
            "release-app-1-cutover",
            "release-app-2-cutover",
        ]);
        expect(after["release-app-2-cutover"].triggers.slice(-5)).toEqual([
            "node=22.12.0",
            "nodeDist=https://nodejs.org/dist",
            "stopGrace=20",
            "memoryMax=90%",
            `appUnit=${sha256(hostScripts()["app-unit.sh"])}`,
        ]);
    });
});

describe("secrets stay secret", () => {
    beforeAll(() => run({ mongoUrl: "mongodb://u:S3cr3t@db/app", meteorSettings: '{"private":{"token":"S3cr3t"}}' }));

    test("the deploy key's private half is secret in every Command's connection and bastion", async () => {
        const commands = [...ofType(COMMAND), ...ofType("command:remote:CopyToRemote")];
        expect(commands.length).toBeGreaterThan(4);
        for (const c of commands) {
            const connection = props.get(c.name)!.connection;
            expect([c.name, await isSecretInput(connection.privateKey)]).toEqual([c.name, true]);
            if (connection.proxy)
                expect([c.name, await isSecretInput(connection.proxy.privateKey)]).toEqual([c.name, true]);
        }
    });

    test("the TLS key travels only as secret stdin; the deploy and TLS private keys are secret in state", async () => {
        expect(await isSecretInput(props.get("lb-tls")!.stdin)).toBe(true);
        expect(named("deploy-key").inputs).toEqual({ algorithm: "ED25519" });
        expect(named("lb-tls").inputs.create).not.toMatch(/PRIVATE KEY/);
    });

    test("no Command line carries a secret value", () => {
        for (const c of ofType(COMMAND)) {
            expect([c.name, c.inputs.create]).toEqual([c.name, expect.not.stringMatching(/S3cr3t|PRIVATE KEY/)]);
        }
    });
});

describe("adminCidrs", () => {
    beforeAll(() => run({ adminCidrs: '["203.0.113.0/24","2001:db8::/48"]' }));

    test("SSH to the LB only from the admin ranges", () => {
        expect(named("net-lb-fw").inputs.inboundRules[2]).toEqual({
            protocol: "tcp",
            portRange: "22",
            sourceAddresses: ["203.0.113.0/24", "2001:db8::/48"],
        });
    });
});

describe("proxies in front of the LB", () => {
    beforeAll(() => run({ trustedProxyCount: "2", trustedProxyCidrs: '["198.51.100.0/24"]' }));

    test("their CIDRs reach the rendered nginx config; the app counts them in HTTP_FORWARDED_COUNT", async () => {
        const tree = await untarGzBase64(named("lb-config-push").inputs.stdin);
        expect(tree["http/real-ip.conf"]).toContain("set_real_ip_from 198.51.100.0/24;");
        const env = named("release-app-1-stage").inputs.stdin;
        expect(env).toContain('HTTP_FORWARDED_COUNT="3"');
    });
});

describe("bad config fails before any resource is registered", () => {
    test("appCount 0", async () => {
        await useMocks({ bundle: fixture.bundle, appCount: "0" });
        const program = freshProgram();
        // Called outside a stack on purpose: the SDK turns a program error inside one into a process exit.
        await expect(program()).rejects.toThrow('meteor-do:appCount is "0": must be an integer from 1 to 100');
        expect(recorded).toEqual([]);
    });
});
