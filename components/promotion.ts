/**
 * Promotion: a stack (prod) deploys exactly the bundle another stack (staging) runs.
 *
 * A bundle (components/config.ts `Bundle`) is a tarball identified by its sha256, the release id. The
 * stack that is promoted FROM exports it as the stack output `release`:
 *
 *     release: bundleOutput(bundle, rollback)   // { sha256: "<hex>", bundle: "<file name>" }
 *
 * and the stack that promotes sets `meteor-do:promoteFrom` to "<org>/<project>/<stack>" and points
 * `meteor-do:bundle` at the same artifact (CI downloads the one file built on merge). Then, in index.ts:
 *
 *     const bundle = await resolveBundle({ promoteFrom: cfg.promoteFrom, bundle: cfg.bundle });
 *
 * API (everything else in this file is private):
 * - `resolveBundle(args, opts?) -> Promise<Bundle>`: without `promoteFrom` it returns the local bundle.
 *   With it, it reads the referenced stack's `release` output through a `pulumi.StackReference` and
 *   resolves only when the local file's sha256 equals it; otherwise it rejects with a `PromotionError`
 *   naming `promoteFrom`, the stack and what is missing or different.
 * - `checkPromotion(promoteFrom, output, local) -> Bundle`: the pure check behind it (no I/O).
 * - `bundleOutput(bundle, rollback?) -> BundleOutput`: the shape to export as `release`, so producer and
 *   consumer cannot drift apart. It names what the hosts run: after `npm run ops -- rollback` that is the kept
 *   release, not the bundle, and `rolledBackFrom` names the bundle, so prod never promotes what staging refused.
 *
 * Why a Promise and not an Output: the sha256 is part of every deploy Command's triggers, paths and
 * the env file, all built from plain strings; a StackReference is a read that the engine resolves in
 * `pulumi preview` as well as in `pulumi up`, so awaiting it (an async program body) gives plain values
 * and makes a missing or mismatched bundle fail the preview before any resource is registered.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { Bundle } from "./config";
import { liveRelease, RecordedRollback } from "./config/ops";
import { rules } from "../lib/validate";
import { sha256File } from "./hash";

/** A bundle as a stack exports it (the output `release`): its id and, for people, its file name. */
export interface BundleOutput {
    /** sha256 (lowercase hex) of the tarball: the release id. */
    sha256: string;
    /** File name of the tarball (informational: the sha256 is what is compared). */
    bundle: string;
    /** Set while a recorded rollback holds: the bundle's sha256 the hosts were rolled back from. */
    rolledBackFrom?: string;
}

export interface ResolveBundleArgs {
    /** "<org>/<project>/<stack>" to take the bundle from; unset or "" deploys the local bundle as is. */
    promoteFrom?: string;
    /**
     * The local bundle (the artifact CI downloaded). Its sha256 when the caller already has it (config.ts
     * does); hashed here otherwise. Path and sha256 empty or unset: no bundle configured.
     */
    bundle?: { path: string; sha256?: string };
}

export class PromotionError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "PromotionError";
    }
}

/** The stack output that carries the bundle; promoting stacks, CI and docs read it under this name. */
export const bundleOutputName = "release";

/** The value to export as `release` from index.ts: the release the hosts run (a recorded rollback's, if it holds). */
export function bundleOutput(bundle: Bundle, rollback?: RecordedRollback): BundleOutput {
    const live = liveRelease(bundle.sha256, rollback);
    if (live === bundle.sha256) return { sha256: bundle.sha256, bundle: path.basename(bundle.path) };
    return { sha256: live, bundle: "(a kept release: npm run ops -- rollback)", rolledBackFrom: bundle.sha256 };
}

/**
 * Pure check: `output` is the referenced stack's `release` output as read (undefined when absent),
 * `local` the bundle this run has. Returns the bundle to deploy or throws a PromotionError.
 */
export function checkPromotion(promoteFrom: string, output: unknown, local: Partial<Bundle>): Bundle {
    const from = `promoteFrom "${promoteFrom}"`;
    if (output === undefined || output === null) {
        throw new PromotionError(
            `${from}: stack ${promoteFrom} has no output "${bundleOutputName}" ({ sha256, bundle }). ` +
                `Deploy that stack first (pulumi up on it exports its release), or unset meteor-do:promoteFrom to deploy meteor-do:bundle directly.`,
        );
    }
    if (typeof output !== "object" || Array.isArray(output)) {
        throw new PromotionError(
            `${from}: output "${bundleOutputName}" of stack ${promoteFrom} must be an object { sha256, bundle }, got ${describe(output)}.`,
        );
    }
    const rel = output as Record<string, unknown>;
    const upstream = typeof rel.sha256 === "string" ? rel.sha256.toLowerCase() : undefined;
    if (upstream === undefined || !rules.sha256.ok(upstream)) {
        throw new PromotionError(
            `${from}: output "${bundleOutputName}" of stack ${promoteFrom} has no valid "sha256" ` +
                `(64 hex digits), got ${describe(rel.sha256)}.`,
        );
    }
    const upstreamName = typeof rel.bundle === "string" && rel.bundle !== "" ? rel.bundle : "(unnamed bundle)";
    if (!local.path || !local.sha256) {
        throw new PromotionError(
            `${from}: meteor-do:bundle is not set, and the hosts need the file itself. Download the artifact ` +
                `stack ${promoteFrom} deployed (${upstreamName}, sha256 ${upstream}) and set meteor-do:bundle to its path.`,
        );
    }
    const mine = local.sha256.toLowerCase();
    if (typeof rel.rolledBackFrom === "string" && rel.rolledBackFrom.toLowerCase() === mine) {
        throw new PromotionError(
            `${from}: stack ${promoteFrom} was rolled back from this bundle (${local.path}, sha256 ${mine}) to ` +
                `the kept release ${upstream} (npm run ops -- rollback). A promotion deploys only what ${promoteFrom} ` +
                `runs: deploy a fixed bundle to ${promoteFrom} first.`,
        );
    }
    if (mine !== upstream) {
        throw new PromotionError(
            `${from}: the local bundle ${local.path} has sha256 ${mine}, but stack ${promoteFrom} runs ` +
                `${upstreamName} with sha256 ${upstream}. A promotion deploys only what ${promoteFrom} runs: ` +
                `use the artifact it deployed, or deploy this bundle to ${promoteFrom} first.`,
        );
    }
    return { path: local.path, sha256: upstream };
}

/**
 * The bundle this stack must deploy. See the top of this file. `opts` go to the StackReference
 * (e.g. `{ parent }`); its resource name is `promoteFrom`, so the preview shows
 * `read pulumi:pulumi:StackReference <org>/<project>/<stack>`.
 */
export async function resolveBundle(args: ResolveBundleArgs, opts?: pulumi.CustomResourceOptions): Promise<Bundle> {
    const promoteFrom = args.promoteFrom?.trim();
    const local = localBundle(args);
    if (!promoteFrom) {
        if (!local.path || !local.sha256) {
            throw new PromotionError(
                "Missing required configuration for meteor-do:bundle (or meteor-do:promoteFrom): no bundle to deploy.",
            );
        }
        return { path: local.path, sha256: local.sha256.toLowerCase() };
    }
    // Config checks promoteFrom with the same rule; this is for callers that build the args themselves.
    if (!rules.stackRef.ok(promoteFrom)) {
        throw new PromotionError(`promoteFrom "${promoteFrom}" ${rules.stackRef.allowed}.`);
    }
    const self = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    if (promoteFrom === self) {
        throw new PromotionError(
            `promoteFrom "${promoteFrom}" names this stack itself; it must name the stack to take the release from (e.g. staging).`,
        );
    }
    const ref = new pulumi.StackReference(promoteFrom, { name: promoteFrom }, opts);
    // A stack that cannot be read at all fails in the engine itself, with the stack's name.
    const details = await ref.getOutputDetails(bundleOutputName);
    // The output is not a secret, but a stack may have made it one; its value is a hash either way.
    const value = details.value !== undefined ? details.value : details.secretValue;
    return checkPromotion(promoteFrom, value, local);
}

function localBundle(args: ResolveBundleArgs): Partial<Bundle> {
    if (!args.bundle?.path) return {};
    const file = path.resolve(args.bundle.path);
    if (args.bundle.sha256) return { path: file, sha256: args.bundle.sha256 };
    if (!fs.existsSync(file)) throw new PromotionError(`meteor-do:bundle: no such file ${file}`);
    return { path: file, sha256: sha256File(file) };
}

function describe(v: unknown): string {
    if (v === undefined) return "nothing";
    const s = JSON.stringify(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
