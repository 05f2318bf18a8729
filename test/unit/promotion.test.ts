import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { bundleOutput, checkPromotion, PromotionError, resolveBundle } from "../../components/promotion";

// Every newResource call, and the outputs the mocked StackReference returns (set per test).
let resources: pulumi.runtime.MockResourceArgs[] = [];
let stagingOutputs: Record<string, unknown> = {};

const mocks: pulumi.runtime.Mocks = {
    newResource(args) {
        resources.push(args);
        if (args.type !== "pulumi:pulumi:StackReference") throw new Error(`unexpected resource ${args.type}`);
        return { id: args.inputs.name, state: { ...args.inputs, outputs: stagingOutputs } };
    },
    call(args) {
        throw new Error(`unexpected call ${args.token}`);
    },
};

const staging = "acme/meteor-do/staging";
let dir: string;
let bundle: string;
let bundleSha: string;

beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "promotion-"));
    bundle = path.join(dir, "bundle.tgz");
    fs.writeFileSync(bundle, "a release built once\n");
    bundleSha = crypto.createHash("sha256").update(fs.readFileSync(bundle)).digest("hex");
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

// Both modes: the check must hold in `pulumi preview` (dry run) as in `pulumi up`.
describe.each([true, false])("resolveBundle (preview=%s)", (preview) => {
    beforeEach(async () => {
        resources = [];
        stagingOutputs = {};
        await pulumi.runtime.setMocks(mocks, "meteor-do", "prod", preview, "acme");
    });

    test("deploys exactly the sha256 staging runs, read through one StackReference", async () => {
        stagingOutputs = { release: { sha256: bundleSha, bundle: "bundle.tgz" }, lbIp: "203.0.113.7" };
        const resolved = await resolveBundle({ promoteFrom: staging, bundle: { path: bundle } });
        expect(resolved).toEqual({ path: bundle, sha256: bundleSha });
        expect(resources).toEqual([
            expect.objectContaining({ type: "pulumi:pulumi:StackReference", name: staging, id: staging, custom: true }),
        ]);
        expect(resources[0].inputs.name).toBe(staging);
    });

    test("takes the caller's sha256 instead of hashing again, and compares case-insensitively", async () => {
        const given = "AB".repeat(32);
        stagingOutputs = { release: { sha256: given.toLowerCase(), bundle: "app.tgz" } };
        const resolved = await resolveBundle({ promoteFrom: staging, bundle: { path: bundle, sha256: given } });
        expect(resolved.sha256).toBe("ab".repeat(32));
    });

    test("a secret release output is read as well", async () => {
        stagingOutputs = { release: { sha256: bundleSha, bundle: "bundle.tgz" } };
        await pulumi.runtime.setMocks(mocks, "meteor-do", "prod", preview, "acme");
        // Mark the referenced outputs secret the way the engine does: secretOutputNames lists them.
        const m: pulumi.runtime.Mocks = {
            newResource(args) {
                resources.push(args);
                return {
                    id: staging,
                    state: { ...args.inputs, outputs: stagingOutputs, secretOutputNames: ["release"] },
                };
            },
            call: mocks.call,
        };
        await pulumi.runtime.setMocks(m, "meteor-do", "prod", preview, "acme");
        const resolved = await resolveBundle({ promoteFrom: staging, bundle: { path: bundle } });
        expect(resolved.sha256).toBe(bundleSha);
    });

    test("a missing release output fails, naming promoteFrom, the stack and the output", async () => {
        stagingOutputs = { lbIp: "203.0.113.7" };
        const err = await resolveBundle({ promoteFrom: staging, bundle: { path: bundle } }).catch((e) => e);
        expect(err).toBeInstanceOf(PromotionError);
        expect(err.message).toBe(
            `promoteFrom "${staging}": stack ${staging} has no output "release" ({ sha256, bundle }). ` +
                "Deploy that stack first (pulumi up on it exports its release), or unset meteor-do:promoteFrom to deploy meteor-do:bundle directly.",
        );
    });

    test("a release without sha256 fails, naming the missing field", async () => {
        stagingOutputs = { release: { bundle: "bundle.tgz" } };
        await expect(resolveBundle({ promoteFrom: staging, bundle: { path: bundle } })).rejects.toThrow(
            `promoteFrom "${staging}": output "release" of stack ${staging} has no valid "sha256" (64 hex digits), got nothing.`,
        );
    });

    test("a local bundle that is not staging's release fails with both hashes", async () => {
        const other = "0".repeat(64);
        stagingOutputs = { release: { sha256: other, bundle: "bundle-41.tgz" } };
        await expect(resolveBundle({ promoteFrom: staging, bundle: { path: bundle } })).rejects.toThrow(
            `promoteFrom "${staging}": the local bundle ${bundle} has sha256 ${bundleSha}, but stack ${staging} runs ` +
                `bundle-41.tgz with sha256 ${other}. A promotion deploys only what ${staging} runs: ` +
                `use the artifact it deployed, or deploy this bundle to ${staging} first.`,
        );
    });

    test("promoting from this very stack is refused before any read", async () => {
        await expect(resolveBundle({ promoteFrom: "acme/meteor-do/prod", bundle: { path: bundle } })).rejects.toThrow(
            'promoteFrom "acme/meteor-do/prod" names this stack itself',
        );
        expect(resources).toEqual([]);
    });

    test("a name that is not <org>/<project>/<stack> is refused before any read", async () => {
        await expect(resolveBundle({ promoteFrom: "staging", bundle: { path: bundle } })).rejects.toThrow(
            'promoteFrom "staging" must be a fully qualified stack name <org>/<project>/<stack>.',
        );
        expect(resources).toEqual([]);
    });

    test("without promoteFrom (or with it empty) the local bundle is the release and nothing is read", async () => {
        expect(await resolveBundle({ bundle: { path: bundle } })).toEqual({ sha256: bundleSha, path: bundle });
        expect(await resolveBundle({ promoteFrom: "", bundle: { path: bundle } })).toEqual({
            sha256: bundleSha,
            path: bundle,
        });
        expect(resources).toEqual([]);
    });

    test("no bundle at all fails plainly", async () => {
        await expect(resolveBundle({})).rejects.toThrow("Missing required configuration for meteor-do:bundle");
        await expect(resolveBundle({ bundle: { path: path.join(dir, "nope.tgz") } })).rejects.toThrow(
            `meteor-do:bundle: no such file ${path.join(dir, "nope.tgz")}`,
        );
    });
});

describe("checkPromotion (pure)", () => {
    const sha = "c".repeat(64);
    test("a promotion without a local bundle says which artifact to fetch", () => {
        expect(() => checkPromotion(staging, { sha256: sha, bundle: "bundle.tgz" }, {})).toThrow(
            `promoteFrom "${staging}": meteor-do:bundle is not set, and the hosts need the file itself. Download the artifact ` +
                `stack ${staging} deployed (bundle.tgz, sha256 ${sha}) and set meteor-do:bundle to its path.`,
        );
    });
    test("a release that is not an object, or whose sha256 is not hex, is refused", () => {
        expect(() => checkPromotion(staging, "abc", { path: "/b.tgz", sha256: sha })).toThrow(
            'must be an object { sha256, bundle }, got "abc".',
        );
        expect(() => checkPromotion(staging, { sha256: "xyz" }, { path: "/b.tgz", sha256: sha })).toThrow(
            'has no valid "sha256" (64 hex digits), got "xyz".',
        );
    });
    test("the producer's shape is what the consumer accepts", () => {
        const out = bundleOutput({ path: "/srv/ci/dist/bundle.tgz", sha256: sha });
        expect(out).toEqual({ sha256: sha, bundle: "bundle.tgz" });
        expect(checkPromotion(staging, out, { path: "/tmp/x/bundle.tgz", sha256: sha })).toEqual({
            path: "/tmp/x/bundle.tgz",
            sha256: sha,
        });
    });
    test("after a recorded rollback the release is the kept one, and the rolled-back bundle is not promoted", () => {
        const kept = "d".repeat(64);
        const bundle = { path: "/srv/ci/dist/bundle.tgz", sha256: sha };
        // A record for another bundle no longer holds: the bundle is the release.
        expect(bundleOutput(bundle, { from: "e".repeat(64), to: kept })).toEqual({ sha256: sha, bundle: "bundle.tgz" });
        const out = bundleOutput(bundle, { from: sha, to: kept });
        expect(out).toMatchObject({ sha256: kept, rolledBackFrom: sha });
        expect(() => checkPromotion(staging, out, { path: "/tmp/x/bundle.tgz", sha256: sha })).toThrow(
            `promoteFrom "${staging}": stack ${staging} was rolled back from this bundle (/tmp/x/bundle.tgz, sha256 ${sha}) to the kept release ${kept}`,
        );
        // The kept release's own tarball still promotes.
        expect(checkPromotion(staging, out, { path: "/tmp/x/old.tgz", sha256: kept })).toEqual({
            path: "/tmp/x/old.tgz",
            sha256: kept,
        });
    });
});
