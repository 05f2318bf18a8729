// Least privilege over SSH, under mocks: every connection pins the host key the program made for its host,
// the LB forwards to exactly the app hosts' private addresses, and no private key or database password
// appears in a plain (non-secret) input of any resource.
import * as pulumi from "@pulumi/pulumi";
import { mockPublicKey, named, ofType, props, recorded, runProgram, tempBundle } from "../support/mocks";

jest.setTimeout(60_000);

let fixture: ReturnType<typeof tempBundle>;
beforeAll(() => (fixture = tempBundle("keys-")));
afterAll(() => fixture.remove());

const COMMANDS = ["command:remote:Command", "command:remote:CopyToRemote"];
const LB_IP = "198.51.100.10";

/** Every string of `v` that is not under a secret, with where it is. */
async function plainStrings(v: unknown, where: string, out: [string, string][] = []): Promise<[string, string][]> {
    // Outputs by shape: the program runs from its own module instance (freshProgram), so instanceof fails.
    const o = v as { __pulumiOutput?: boolean; isSecret: Promise<boolean>; promise(): Promise<unknown> };
    if (o && typeof o === "object" && o.__pulumiOutput === true) {
        if (await o.isSecret) return out;
        return plainStrings(await o.promise(), where, out);
    }
    if (v instanceof Promise) return plainStrings(await v, where, out);
    if (typeof v === "string") out.push([where, v]);
    else if (Array.isArray(v)) for (const [i, x] of v.entries()) await plainStrings(x, `${where}[${i}]`, out);
    else if (v && typeof v === "object" && !(v as { __pulumiResource?: boolean }).__pulumiResource)
        for (const [k, x] of Object.entries(v)) await plainStrings(x, `${where}.${k}`, out);
    return out;
}

describe.each([
    ["a default stack", { appCount: "3" }],
    ["a managed database", { appCount: "2", database: "managed" }],
])("%s", (_label, config) => {
    let outputs: Record<string, unknown>;
    beforeAll(async () => {
        outputs = await runProgram({ bundle: fixture.bundle, ...config });
    });

    test("every Command connection pins its host's key; app hosts' bastion hop pins the LB's", () => {
        const appKeys = new Map(
            ofType("digitalocean:index/droplet:Droplet")
                .filter((d) => d.name !== "lb-droplet")
                .map((d) => [d.name, mockPublicKey(`${d.name}-host-key`)]),
        );
        const commands = recorded.filter((r) => COMMANDS.includes(r.type));
        expect(commands.length).toBeGreaterThan(10);
        for (const c of commands) {
            const conn = c.inputs.connection;
            if (conn.host === LB_IP) {
                expect([c.name, conn.hostKey]).toEqual([c.name, mockPublicKey("lb-host-key")]);
            } else {
                expect([c.name, conn.hostKey]).toEqual([c.name, expect.stringMatching(/^ssh-ed25519 /)]);
                expect([...appKeys.values()]).toContain(conn.hostKey);
                expect([c.name, conn.proxy?.hostKey]).toEqual([c.name, mockPublicKey("lb-host-key")]);
            }
        }
        // Each app host's Commands pin that host's own key.
        for (const [host, key] of appKeys) expect(named(`${host}-host-cloud-init`).inputs.connection.hostKey).toBe(key);
        expect(new Set(appKeys.values()).size).toBe(appKeys.size);
    });

    test("each droplet gets its own host key in its (secret) user-data", async () => {
        for (const d of ofType("digitalocean:index/droplet:Droplet")) {
            const keyName = d.name === "lb-droplet" ? "lb-host-key" : `${d.name}-host-key`;
            expect(named(keyName).inputs).toEqual({ algorithm: "ED25519" });
            expect(await pulumi.isSecret(props.get(d.name)!.userData as pulumi.Output<string>)).toBe(true);
            expect(d.inputs.userData).toContain(`  ed25519_public: ${mockPublicKey(keyName)}\n`);
            expect(d.inputs.userData).toContain(Buffer.from(`private ${keyName}`).toString("base64"));
        }
    });

    test("the LB forwards to exactly the app hosts' private addresses, before any app host Command", () => {
        const ips = outputs.appPrivateIps as string[];
        expect(ips).toHaveLength(ofType("digitalocean:index/droplet:Droplet").length - 1);
        const bastion = named("app-bastion");
        expect(bastion.inputs.connection.host).toBe(LB_IP);
        const create = bastion.inputs.create as string;
        expect(create).toBe(`sudo /usr/local/lib/meteor-do/bastion.sh ${ips.join(" ")}`);
        expect(bastion.dependsOn).toEqual(["lb-host-tools"]);
        for (let i = 1; i <= ips.length; i++)
            expect(named(`app-${i}-host-cloud-init`).dependsOn).toEqual(["app-bastion"]);
    });

    test("no private key and no database password in a plain input of any resource", async () => {
        const leaks: [string, string][] = [];
        const plain: string[] = [];
        for (const r of recorded) {
            for (const [where, text] of await plainStrings(props.get(r.name), r.name)) {
                plain.push(text);
                // "cHJpdmF0ZS" is base64 of "private": the mocks' private key bodies.
                if (/PRIVATE KEY|Mock-Db-Pass|Mock-App|cHJpdmF0ZS/.test(text)) leaks.push([where, text.slice(0, 80)]);
            }
        }
        expect(leaks).toEqual([]);
        // The walk reaches into Outputs that are not secret (the bastion's command line is one).
        expect(plain).toContain(
            `sudo /usr/local/lib/meteor-do/bastion.sh ${(outputs.appPrivateIps as string[]).join(" ")}`,
        );
    });
});
