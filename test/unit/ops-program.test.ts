import * as fs from "fs";
import { liveRelease, readOps, rollbackWarning } from "../../components/config/ops";
import { Reader } from "../../components/config/reader";
import { isPublicKey } from "../../lib/validate";
import { sha256 } from "../../components/hash";
import { parseOutputs } from "../../ops/target";
import { named, runProgram, tempBundle, waitsFor } from "../support/mocks";

// The program's side of `npm run ops`: operatorSshKeys and a recorded rollback in config, the operator
// Command on every host, and the `ops` output the command reads.
jest.setTimeout(60_000);

const ALICE = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGMFHx4QIbk32fXsGgQx08vr519q2n1aoKHmcGKjNCBL alice@laptop";
const BOB =
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBChA+nLHp1K5qSV3kYxpdCCZFaCaQPmz9suCQA5cLTtONUma/vujS9LfPk5Tuaz4yw7L0jlrO8ZpSnRVRm9Jk7g= bob";
const A = "a".repeat(64);
const B = "b".repeat(64);

function read(values: Record<string, unknown>) {
    const r = new Reader((k) => (values[k] === undefined ? undefined : JSON.stringify(values[k])));
    return { settings: readOps(r), problems: r.problems };
}

describe("config", () => {
    test("valid keys and a rollback record", () => {
        expect(read({ operatorSshKeys: [ALICE, BOB], rollback: { from: A, to: B } })).toEqual({
            settings: { operatorSshKeys: [ALICE, BOB], rollback: { from: A, to: B } },
            problems: [],
        });
        expect(read({})).toEqual({ settings: { operatorSshKeys: [], rollback: undefined }, problems: [] });
    });

    const notAKey = "each entry must be one OpenSSH public key line, <type> <base64> [comment]";
    test.each([
        [{ operatorSshKeys: "ssh-ed25519 AAAA" }, "meteor-do:operatorSshKeys must be a list of strings"],
        [{ operatorSshKeys: [`command="id" ${ALICE}`] }, `meteor-do:operatorSshKeys has "command=\\"id\\" ssh-ed25519`],
        [
            { operatorSshKeys: [ALICE, "ssh-dss AAAAB3NzaC1kc3M= old"] },
            `has "ssh-dss AAAAB3NzaC1kc3M= old": ${notAKey}`,
        ],
        [{ operatorSshKeys: [ALICE.replace("ssh-ed25519", "ssh-rsa")] }, notAKey],
        [{ operatorSshKeys: [`${ALICE}\nssh-ed25519 AAAA x`] }, notAKey],
        [{ operatorSshKeys: [ALICE, ALICE] }, "meteor-do:operatorSshKeys[1] is the same key as [0]"],
        [{ rollback: { from: A, to: A } }, "meteor-do:rollback is"],
        [{ rollback: { from: A } }, "must be { from, to }, two different release sha256s"],
        [{ rollback: { from: A, to: B, why: "x" } }, "must be { from, to }"],
        [{ rollback: "abc" }, "meteor-do:rollback must be a map of NAME: value"],
    ])("refused: %j", (values, message) => {
        const { problems } = read(values);
        expect(problems.length).toBeGreaterThanOrEqual(1);
        expect(problems[0]).toContain(message);
    });

    test("a key line: type, base64 of that type, optional comment", () => {
        expect(isPublicKey(ALICE)).toBe(true);
        expect(isPublicKey(BOB)).toBe(true);
        expect(isPublicKey(ALICE.replace(" alice@laptop", ""))).toBe(true);
        expect(isPublicKey("ssh-ed25519 !!!")).toBe(false);
        expect(isPublicKey(`${ALICE}\u0007`)).toBe(false);
    });

    test("the recorded rollback holds while the bundle is the one it left", () => {
        expect(liveRelease(A, { from: A, to: B })).toBe(B);
        expect(liveRelease(A, undefined)).toBe(A);
        expect(liveRelease("c".repeat(64), { from: A, to: B })).toBe("c".repeat(64));
        expect(rollbackWarning(A, { from: A, to: B })).toBeUndefined();
        expect(rollbackWarning("c".repeat(64), { from: A, to: B })).toBe(
            "meteor-do:rollback was recorded for bundle aaaaaaaaaaaa, but the bundle is now cccccccccccc: deploying the bundle. Remove the record with pulumi config rm meteor-do:rollback",
        );
    });
});

describe("program", () => {
    let fixture: ReturnType<typeof tempBundle>;
    let bundleSha: string;
    beforeAll(() => {
        fixture = tempBundle("ops-program-");
        bundleSha = sha256(fs.readFileSync(fixture.bundle));
    });
    afterAll(() => fixture.remove());
    const run = (config: Record<string, string> = {}) =>
        runProgram({ bundle: fixture.bundle, appCount: "2", ...config });

    test("operator keys: one Command per host, after its host scripts, keys on stdin, no droplet input", async () => {
        await run({ operatorSshKeys: JSON.stringify([ALICE, BOB]) });
        const script = sha256(fs.readFileSync(`${__dirname}/../../components/host/operator.sh`, "utf8"));
        for (const [name, role] of [
            ["lb", "lb"],
            ["app-1", "app"],
            ["app-2", "app"],
        ]) {
            const c = named(`${name}-operators`);
            expect(c.inputs.create).toBe(`sudo /usr/local/lib/meteor-do/operator.sh ${role}`);
            expect(c.inputs.stdin).toBe(`${ALICE}\n${BOB}\n`);
            expect(c.inputs.triggers.slice(1)).toEqual([
                `operators=${sha256(`${ALICE}\n${BOB}\n`)}`,
                `script=${script}`,
            ]);
            expect(c.inputs.triggers[0]).toMatch(/^droplet=\d+$/);
            expect(waitsFor(`${name}-operators`).has(`${name === "lb" ? "lb" : name}-host-tools`)).toBe(true);
        }
        // User-data does not carry the keys: adding one replaces no droplet.
        for (const d of ["lb-droplet", "app-1", "app-2"])
            expect(named(d).inputs.userData).not.toContain("alice@laptop");
    });

    test("the ops output is what `npm run ops` reads", async () => {
        const outputs = await run({ operatorSshKeys: JSON.stringify([ALICE]), cutoverTimeoutSeconds: "25" });
        const t = parseOutputs("staging", outputs);
        expect(t.hosts.map((h) => [h.name, h.privateIp])).toEqual([
            ["app-1", (outputs.appPrivateIps as string[])[0]],
            ["app-2", (outputs.appPrivateIps as string[])[1]],
        ]);
        expect(t.lb.publicIp).toBe(outputs.lbReservedIp);
        expect(t).toMatchObject({ user: "ops", appPort: 3000, release: bundleSha, bundle: bundleSha });
        expect(t.cutover).toEqual({
            healthCheckPath: "/",
            keepReleases: 3,
            restartTimeoutSeconds: 60,
            healthTimeoutSeconds: 25,
            lbTimeoutSeconds: 25,
            graceSeconds: 20,
        });
    });

    test("a recorded rollback: cutovers go to the kept release (and skip a host already there); upload and stage stay", async () => {
        const outputs = await run({ rollback: JSON.stringify({ from: bundleSha, to: B }) });
        for (const h of ["app-1", "app-2"]) {
            const cutover = named(`release-${h}-cutover`).inputs;
            expect(cutover.create).toContain(`cutover.sh --release ${B} `);
            expect(cutover.create).toMatch(/ --when changed$/);
            expect(cutover.triggers[1]).toBe(`bundle=${B}`);
            expect(named(`release-${h}-stage`).inputs.triggers[1]).toBe(`bundle=${bundleSha}`);
            expect(named(`release-${h}-upload`).inputs.triggers[1]).toBe(`bundle=${bundleSha}`);
        }
        expect(outputs.deployedRelease).toBe(B);
        expect((outputs.ops as { release: string }).release).toBe(B);
    });

    test("a record for another bundle is ignored (with a warning): the bundle deploys", async () => {
        // The program's pulumi module is its own instance (isolateModules); under mocks its log goes to the console.
        const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
        await run({ rollback: JSON.stringify({ from: A, to: B }) });
        const cutover = named("release-app-1-cutover").inputs;
        expect(cutover.create).toContain(`cutover.sh --release ${bundleSha} `);
        expect(cutover.create).not.toContain("--when");
        expect(warn.mock.calls.map((c) => String(c[0]))).toContainEqual(
            expect.stringContaining(rollbackWarning(bundleSha, { from: A, to: B })!),
        );
        warn.mockRestore();
    });
});
