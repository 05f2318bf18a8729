// components/deploy.ts under mocks: stage in parallel (no cross-host dependency), cutover in one chain in
// host order after the LB push, triggers that change exactly with bundle / env / scripts, secrets kept.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as remote from "@pulumi/command/remote";
import {
    cutoverCommand,
    deployScripts,
    deployScriptsHash,
    incomingPath,
    RollingDeploy,
    RollingDeployArgs,
    stageCommand,
} from "../../components/deploy";
import { hostScripts } from "../../components/hostTools";
import { inStack, isSecretInput, named, promiseOf, props, recorded, useMocks } from "../support/mocks";

const sha256 = (s: string | Buffer) => crypto.createHash("sha256").update(s).digest("hex");
const ENV_TEXT = 'NODE_ENV="production"\nMONGO_URL="mongodb://u:s3cret@db/app"\n';

let dir: string;
let bundlePath: string;
let bundleSha: string;
beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "deploy-unit-"));
    bundlePath = path.join(dir, "bundle.tgz");
    fs.writeFileSync(bundlePath, "a bundle");
    bundleSha = sha256("a bundle");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Run {
    release: RollingDeploy;
    options: Map<string, pulumi.CustomResourceOptions>;
}

/** Registers N fake hosts' tools Commands, an LB push and a RollingDeploy inside a mocked stack. */
async function deploy(
    over: Partial<RollingDeployArgs> & { hostCount?: number; env?: pulumi.Output<string>; hostIds?: string[] } = {},
): Promise<Run> {
    await useMocks();
    const options = new Map<string, pulumi.CustomResourceOptions>();
    let release!: RollingDeploy;
    await inStack(async () => {
        const n = over.hostCount ?? 3;
        const lbConnection = { host: "198.51.100.10", user: "deploy", privateKey: pulumi.secret("KEY") };
        const hosts = [...Array(n).keys()].map((i) => {
            const connection = {
                host: `10.116.0.${i + 2}`,
                user: "deploy",
                privateKey: pulumi.secret("KEY"),
                proxy: lbConnection,
            };
            const ready = new remote.Command(`app-${i}-tools`, { connection, create: "true" });
            const hostId = over.hostIds ? { hostId: pulumi.output(over.hostIds[i]) } : {};
            return { name: `app-${i}`, connection, privateIp: pulumi.output(`10.116.0.${i + 2}`), ready, ...hostId };
        });
        const lbPush = new remote.Command("lb-config-push", { connection: lbConnection, create: "true" });
        release = new RollingDeploy(
            "release",
            {
                hosts,
                lbPrivateIp: pulumi.output("10.116.0.100"),
                lbReady: lbPush,
                bundle: { path: bundlePath, sha256: bundleSha },
                envFile: over.env ?? pulumi.secret(ENV_TEXT),
                appPort: 3000,
                healthCheckPath: "/",
                keepReleases: 3,
                stopGraceSeconds: 20,
                ...Object.fromEntries(
                    Object.entries(over).filter(([k]) => !["hostCount", "env", "hostIds"].includes(k)),
                ),
            },
            {
                // Mocks don't see resource options; record the ones asserted below.
                transformations: [
                    (args) => {
                        options.set(args.name, args.opts as pulumi.CustomResourceOptions);
                        return undefined;
                    },
                ],
            },
        );
        return { deployedSha256: release.deployedSha256 };
    });
    return { release, options };
}

const cutoverString = (i: number, sha = bundleSha) =>
    `sudo /usr/local/lib/meteor-do/cutover.sh --release ${sha} --peer 10.116.0.${i + 2}:3000 --lb 10.116.0.100 ` +
    "--health-path / --keep 3 --restart-timeout 60 --health-timeout 60 --lb-timeout 60 --grace 20";

describe("command builders", () => {
    test("produce the exact command lines", () => {
        expect(incomingPath(bundleSha)).toBe(`/srv/meteor/incoming/${bundleSha}.tgz`);
        expect(stageCommand(bundleSha)).toBe(`sudo /usr/local/lib/meteor-do/stage.sh ${bundleSha}`);
        expect(
            cutoverCommand({
                sha256: bundleSha,
                peer: "10.0.0.5:3000",
                lbPrivateIp: "10.0.0.2",
                healthCheckPath: "/health?full=1&x=it's",
                keepReleases: 5,
                restartTimeoutSeconds: 40,
                healthTimeoutSeconds: 90,
                lbTimeoutSeconds: 30,
            }),
        ).toBe(
            `sudo /usr/local/lib/meteor-do/cutover.sh --release ${bundleSha} --peer 10.0.0.5:3000 --lb 10.0.0.2 ` +
                `--health-path '/health?full=1&x=it'\\''s' --keep 5 --restart-timeout 40 --health-timeout 90 --lb-timeout 30`,
        );
        // The spreading window, when given (a rollback of a stack deployed before it existed gives none).
        expect(
            cutoverCommand({
                sha256: bundleSha,
                peer: "10.0.0.5:3000",
                lbPrivateIp: "10.0.0.2",
                healthCheckPath: "/",
                keepReleases: 3,
                restartTimeoutSeconds: 40,
                healthTimeoutSeconds: 90,
                lbTimeoutSeconds: 30,
                graceSeconds: 7,
            }),
        ).toBe(
            `sudo /usr/local/lib/meteor-do/cutover.sh --release ${bundleSha} --peer 10.0.0.5:3000 --lb 10.0.0.2 ` +
                `--health-path / --keep 3 --restart-timeout 40 --health-timeout 90 --lb-timeout 30 --grace 7`,
        );
    });

    test("refuse anything but a sha256 as the release id", () => {
        expect(() => stageCommand("abc; rm -rf /")).toThrow(
            'bundle sha256 is "abc; rm -rf /": must be 64 lowercase hex digits (a sha256)',
        );
        expect(() => incomingPath(bundleSha.toUpperCase())).toThrow("must be 64 lowercase hex digits");
    });

    test("the scripts hash covers exactly the deploy scripts and the layout they source", () => {
        const tools = hostScripts();
        expect(Object.keys(tools)).toEqual(expect.arrayContaining([...deployScripts, "lb-push.sh"]));
        const base = deployScriptsHash(tools);
        expect(base).toBe(deployScriptsHash());
        expect(deployScriptsHash({ ...tools, "lb-push.sh": "#!/bin/bash\necho changed\n" })).toBe(base);
        for (const f of deployScripts) {
            expect([f, deployScriptsHash({ ...tools, [f]: tools[f] + "\n" })]).not.toEqual([f, base]);
        }
    });
});

describe("RollingDeploy", () => {
    test("registers per host one upload, one stage and one cutover, children of the component", async () => {
        await deploy();
        // Registration order follows dependencies resolving, so compare by name.
        const mine = recorded
            .filter((r) => r.name.startsWith("release"))
            .map((r) => [r.type, r.name, r.parent ?? null]);
        expect(mine.sort((a, b) => String(a[1]).localeCompare(String(b[1])))).toEqual([
            ["meteor-do:deploy:Release", "release", null],
            ...[0, 1, 2].flatMap((i) => [
                ["command:remote:Command", `release-app-${i}-cutover`, "release"],
                ["command:remote:Command", `release-app-${i}-stage`, "release"],
                ["command:remote:CopyToRemote", `release-app-${i}-upload`, "release"],
            ]),
        ]);
    });

    test("stage: upload and stage wait only for their own host's tools", async () => {
        await deploy();
        for (const i of [0, 1, 2]) {
            const upload = named(`release-app-${i}-upload`);
            expect(upload.dependsOn).toEqual([`app-${i}-tools`]);
            expect(upload.inputs.remotePath).toBe(`/srv/meteor/incoming/${bundleSha}.tgz`);
            expect(upload.inputs.triggers).toEqual([`bundle=${bundleSha}`]);
            expect(upload.inputs.connection.host).toBe(`10.116.0.${i + 2}`);
            expect(await (props.get(`release-app-${i}-upload`)!.source as pulumi.asset.FileAsset).path).toBe(
                bundlePath,
            );

            const stage = named(`release-app-${i}-stage`);
            expect(stage.dependsOn).toEqual([`app-${i}-tools`, `release-app-${i}-upload`]);
            expect(stage.inputs).toMatchObject({
                create: `sudo /usr/local/lib/meteor-do/stage.sh ${bundleSha}`,
                stdin: ENV_TEXT,
                triggers: [`bundle=${bundleSha}`, `env=${sha256(ENV_TEXT)}`, `scripts=${deployScriptsHash()}`],
                addPreviousOutputInEnv: false,
            });
            expect(stage.inputs.connection.host).toBe(`10.116.0.${i + 2}`);
        }
    });

    test("cutover: one chain in host order, each after its own stage and the LB push", async () => {
        await deploy();
        expect(named("release-app-0-cutover").dependsOn).toEqual(["release-app-0-stage", "lb-config-push"]);
        expect(named("release-app-1-cutover").dependsOn).toEqual([
            "release-app-1-stage",
            "lb-config-push",
            "release-app-0-cutover",
        ]);
        expect(named("release-app-2-cutover").dependsOn).toEqual([
            "release-app-2-stage",
            "lb-config-push",
            "release-app-1-cutover",
        ]);
        for (const i of [0, 1, 2]) {
            expect(named(`release-app-${i}-cutover`).inputs).toMatchObject({
                create: cutoverString(i),
                stdin: ENV_TEXT,
                triggers: [`bundle=${bundleSha}`, `env=${sha256(ENV_TEXT)}`, `scripts=${deployScriptsHash()}`],
                addPreviousOutputInEnv: false,
            });
        }
    });

    test("restart timeout follows stopGraceSeconds; health and LB timeouts can be set", async () => {
        await deploy({
            stopGraceSeconds: 5,
            healthTimeoutSeconds: 120,
            lbTimeoutSeconds: 15,
            appPort: 4000,
            healthCheckPath: "/ping",
            keepReleases: 4,
        });
        expect(named("release-app-1-cutover").inputs.create).toBe(
            `sudo /usr/local/lib/meteor-do/cutover.sh --release ${bundleSha} --peer 10.116.0.3:4000 --lb 10.116.0.100 ` +
                "--health-path /ping --keep 4 --restart-timeout 45 --health-timeout 120 --lb-timeout 15 --grace 5",
        );
    });

    test("triggers change exactly with the bundle and the env; an env-only change re-uploads nothing", async () => {
        const snapshot = () =>
            Object.fromEntries(
                recorded
                    .filter((r) => r.name.startsWith("release-"))
                    .map((r) => [r.name, JSON.stringify([r.inputs.triggers, r.inputs.create, r.inputs.remotePath])]),
            );
        await deploy();
        const base = snapshot();
        await deploy();
        expect(snapshot()).toEqual(base);

        await deploy({ env: pulumi.secret(ENV_TEXT + 'EXTRA="1"\n') });
        const envChanged = snapshot();
        for (const i of [0, 1, 2]) {
            expect(envChanged[`release-app-${i}-upload`]).toBe(base[`release-app-${i}-upload`]);
            for (const kind of ["stage", "cutover"]) {
                const name = `release-app-${i}-${kind}`;
                expect(envChanged[name]).not.toBe(base[name]);
                expect(named(name).inputs.triggers).toEqual([
                    `bundle=${bundleSha}`,
                    `env=${sha256(ENV_TEXT + 'EXTRA="1"\n')}`,
                    `scripts=${deployScriptsHash()}`,
                ]);
            }
        }

        const other = path.join(dir, "other.tgz");
        fs.writeFileSync(other, "another bundle");
        const otherSha = sha256("another bundle");
        await deploy({ bundle: { path: other, sha256: otherSha } });
        for (const i of [0, 1, 2]) {
            expect(named(`release-app-${i}-upload`).inputs.triggers).toEqual([`bundle=${otherSha}`]);
            expect(named(`release-app-${i}-upload`).inputs.remotePath).toBe(`/srv/meteor/incoming/${otherSha}.tgz`);
            expect(named(`release-app-${i}-stage`).inputs.triggers).toEqual([
                `bundle=${otherSha}`,
                `env=${sha256(ENV_TEXT)}`,
                `scripts=${deployScriptsHash()}`,
            ]);
            expect(named(`release-app-${i}-cutover`).inputs.create).toBe(cutoverString(i, otherSha));
        }
    });

    test("with droplet ids, a replaced droplet re-runs upload, stage and cutover of that host only", async () => {
        const snapshot = () =>
            Object.fromEntries(
                recorded
                    .filter((r) => r.name.startsWith("release-"))
                    .map((r) => [r.name, JSON.stringify(r.inputs.triggers)]),
            );
        await deploy({ hostIds: ["1001", "1002", "1003"] });
        expect(named("release-app-1-upload").inputs.triggers).toEqual(["droplet=1002", `bundle=${bundleSha}`]);
        expect(named("release-app-1-stage").inputs.triggers).toEqual([
            "droplet=1002",
            `bundle=${bundleSha}`,
            `env=${sha256(ENV_TEXT)}`,
            `scripts=${deployScriptsHash()}`,
        ]);
        expect(named("release-app-1-cutover").inputs.triggers).toEqual([
            "droplet=1002",
            `bundle=${bundleSha}`,
            `env=${sha256(ENV_TEXT)}`,
            `scripts=${deployScriptsHash()}`,
        ]);
        const before = snapshot();
        await deploy({ hostIds: ["1001", "2002", "1003"] });
        const after = snapshot();
        const changed = Object.keys(before)
            .filter((k) => before[k] !== after[k])
            .sort();
        expect(changed).toEqual(["release-app-1-cutover", "release-app-1-stage", "release-app-1-upload"]);
    });

    test("a secret env stays secret: stdin and its hash are secret, command lines are plain and carry no env", async () => {
        const { options } = await deploy();
        for (const i of [0, 1, 2]) {
            for (const kind of ["stage", "cutover"]) {
                const name = `release-app-${i}-${kind}`;
                const p = props.get(name)!;
                expect(await isSecretInput(p.stdin)).toBe(true);
                const triggers = p.triggers as pulumi.Output<string>[];
                expect(await Promise.all(triggers.map(isSecretInput))).toEqual([false, true, false]);
                expect(await isSecretInput(p.create)).toBe(false);
                expect(named(name).inputs.create).not.toContain("s3cret");
                // (the Command class adds "connection" itself)
                expect(options.get(name)!.additionalSecretOutputs).toContain("stdin");
            }
        }
        // A plain env stays plain (secretness follows the input).
        await deploy({ env: pulumi.output(ENV_TEXT) });
        expect(await isSecretInput(props.get("release-app-0-cutover")!.stdin)).toBe(false);
    });

    test("deployedSha256 is the bundle sha256, resolved after the last cutover", async () => {
        const { release } = await deploy({ hostCount: 2 });
        expect(await promiseOf(release.deployedSha256)).toBe(bundleSha);
        expect(release.cutovers).toHaveLength(2);
    });

    test("argument errors are plain and early", async () => {
        await useMocks();
        const lbReady = new remote.Command("lb", { connection: { host: "h" }, create: "true" });
        const host = { name: "a", connection: { host: "h" }, privateIp: "10.0.0.2", ready: lbReady };
        const ok: RollingDeployArgs = {
            hosts: [host],
            lbPrivateIp: "10.0.0.1",
            lbReady,
            bundle: { path: bundlePath, sha256: bundleSha },
            envFile: pulumi.output("A=1\n"),
            appPort: 3000,
            healthCheckPath: "/",
            keepReleases: 3,
            stopGraceSeconds: 20,
        };
        const bad = (over: Partial<RollingDeployArgs>) => () => new RollingDeploy("r", { ...ok, ...over });
        expect(bad({ hosts: [] })).toThrow("RollingDeploy needs at least one host");
        expect(bad({ hosts: [host, host] })).toThrow('RollingDeploy host names must be unique; "a" appears twice');
        expect(bad({ bundle: { path: "bundle.tgz", sha256: bundleSha } })).toThrow(
            'bundle.path must be absolute, got "bundle.tgz"',
        );
        expect(bad({ bundle: { path: bundlePath, sha256: "xyz" } })).toThrow(
            'bundle sha256 is "xyz": must be 64 lowercase hex digits',
        );
        expect(bad({ keepReleases: 1 })).toThrow("keepReleases is 1: must be an integer from 2 to 50");
        expect(bad({ healthCheckPath: "health" })).toThrow('healthCheckPath is "health": must be an absolute URL path');
        expect(bad({ healthCheckPath: '/a"b' })).toThrow('healthCheckPath is "/a\\"b": must be an absolute URL path');
        expect(bad({ stopGraceSeconds: -1 })).toThrow("stopGraceSeconds is -1: must be an integer number of seconds");
        expect(bad({ appPort: 80 })).toThrow("appPort is 80: must be an unprivileged port");
    });
});
