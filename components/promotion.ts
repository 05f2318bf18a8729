/**
 * Promotion: a stack (prod) deploys exactly the release another stack (staging) runs.
 *
 * A release is a bundle tarball identified by its sha256. The stack that is promoted FROM exports
 *
 *     export const release = releaseOutput(cfg.bundle);   // { sha256: "<hex>", bundle: "<file name>" }
 *
 * and the stack that promotes sets `meteor-do:promoteFrom` to "<org>/<project>/<stack>" and points
 * `meteor-do:bundle` at the same artifact (CI downloads the one file built on merge). Then, in index.ts:
 *
 *     const release = await resolveRelease({
 *         promoteFrom: cfg.promoteFrom, bundlePath: cfg.bundle.path, bundleSha256: cfg.bundle.sha256 });
 *     // release.sha256 / release.path: what the deploy components get
 *
 * API (everything else in this file is private):
 * - `resolveRelease(args, opts?) -> Promise<Release>`: without `promoteFrom` it returns the local bundle.
 *   With it, it reads the referenced stack's `release` output through a `pulumi.StackReference` and
 *   resolves only when the local file's sha256 equals it; otherwise it rejects with a `PromotionError`
 *   naming `promoteFrom`, the stack and what is missing or different.
 * - `checkPromotion(promoteFrom, output, local) -> Release`: the pure check behind it (no I/O).
 * - `releaseOutput(bundle) -> StackRelease`: the shape to export as `release`, so producer and consumer
 *   cannot drift apart.
 *
 * Why a Promise and not an Output: the release id is part of every deploy Command's triggers, paths and
 * the env file, all built from plain strings; a StackReference is a read that the engine resolves in
 * `pulumi preview` as well as in `pulumi up`, so awaiting it (an async program body) gives plain values
 * and makes a missing or mismatched release fail the preview before any resource is registered.
 */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { sha256File } from "./hash";

/** What a stack exports as its `release` output. */
export interface StackRelease {
    /** sha256 (lowercase hex) of the bundle tarball: the release id. */
    sha256: string;
    /** File name of the tarball (informational: the sha256 is what is compared). */
    bundle: string;
}

/** The release this stack deploys. */
export interface Release {
    sha256: string;
    /** Absolute path of the local bundle file that the hosts are sent. */
    path: string;
    /** The stack whose release this is, when promoted. */
    promotedFrom?: string;
}

export interface ResolveReleaseArgs {
    /** "<org>/<project>/<stack>" to take the release from; unset or "" deploys the local bundle as is. */
    promoteFrom?: string;
    /** Local bundle tarball (the artifact CI downloaded). */
    bundlePath?: string;
    /** sha256 of bundlePath when the caller already has it (config.ts does); hashed here otherwise. */
    bundleSha256?: string;
}

export class PromotionError extends Error {
    constructor(message: string) {
        super(message);
        this.name = "PromotionError";
    }
}

/** The name of the stack output that carries the release. */
export const releaseOutputName = "release";

const sha256Pattern = /^[0-9a-f]{64}$/;

/** The value to export as `release` from index.ts. */
export function releaseOutput(bundle: { path: string; sha256: string }): StackRelease {
    return { sha256: bundle.sha256, bundle: path.basename(bundle.path) };
}

/**
 * Pure check: `output` is the referenced stack's `release` output as read (undefined when absent),
 * `local` the bundle this run has. Returns the release to deploy or throws a PromotionError.
 */
export function checkPromotion(
    promoteFrom: string,
    output: unknown,
    local: { path?: string; sha256?: string },
): Release {
    const from = `promoteFrom "${promoteFrom}"`;
    if (output === undefined || output === null) {
        throw new PromotionError(
            `${from}: stack ${promoteFrom} has no output "${releaseOutputName}" ({ sha256, bundle }). ` +
                `Deploy that stack first (pulumi up on it exports its release), or unset meteor-do:promoteFrom to deploy meteor-do:bundle directly.`,
        );
    }
    if (typeof output !== "object" || Array.isArray(output)) {
        throw new PromotionError(
            `${from}: output "${releaseOutputName}" of stack ${promoteFrom} must be an object { sha256, bundle }, got ${describe(output)}.`,
        );
    }
    const rel = output as Record<string, unknown>;
    const upstream = typeof rel.sha256 === "string" ? rel.sha256.toLowerCase() : undefined;
    if (upstream === undefined || !sha256Pattern.test(upstream)) {
        throw new PromotionError(
            `${from}: output "${releaseOutputName}" of stack ${promoteFrom} has no valid "sha256" ` +
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
    if (mine !== upstream) {
        throw new PromotionError(
            `${from}: the local bundle ${local.path} has sha256 ${mine}, but stack ${promoteFrom} runs ` +
                `${upstreamName} with sha256 ${upstream}. A promotion deploys only what ${promoteFrom} runs: ` +
                `use the artifact it deployed, or deploy this bundle to ${promoteFrom} first.`,
        );
    }
    return { sha256: upstream, path: local.path, promotedFrom: promoteFrom };
}

/**
 * The release this stack must deploy. See the top of this file. `opts` go to the StackReference
 * (e.g. `{ parent }`); its resource name is `promoteFrom`, so the preview shows
 * `read pulumi:pulumi:StackReference <org>/<project>/<stack>`.
 */
export async function resolveRelease(args: ResolveReleaseArgs, opts?: pulumi.CustomResourceOptions): Promise<Release> {
    const promoteFrom = args.promoteFrom?.trim();
    const local = localBundle(args);
    if (!promoteFrom) {
        if (!local.path || !local.sha256) {
            throw new PromotionError(
                "Missing required configuration for meteor-do:bundle (or meteor-do:promoteFrom): no bundle to deploy.",
            );
        }
        return { sha256: local.sha256.toLowerCase(), path: local.path };
    }
    if (!/^[^/\s]+\/[^/\s]+\/[^/\s]+$/.test(promoteFrom)) {
        throw new PromotionError(
            `promoteFrom "${promoteFrom}" must be a fully qualified stack name <org>/<project>/<stack>.`,
        );
    }
    const self = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;
    if (promoteFrom === self) {
        throw new PromotionError(
            `promoteFrom "${promoteFrom}" names this stack itself; it must name the stack to take the release from (e.g. staging).`,
        );
    }
    const ref = new pulumi.StackReference(promoteFrom, { name: promoteFrom }, opts);
    // A stack that cannot be read at all fails in the engine itself, with the stack's name.
    const details = await ref.getOutputDetails(releaseOutputName);
    // The release is not a secret, but a stack may have made it one; its value is a hash either way.
    const value = details.value !== undefined ? details.value : details.secretValue;
    return checkPromotion(promoteFrom, value, local);
}

function localBundle(args: ResolveReleaseArgs): { path?: string; sha256?: string } {
    if (!args.bundlePath) return {};
    const file = path.resolve(args.bundlePath);
    if (args.bundleSha256) return { path: file, sha256: args.bundleSha256 };
    if (!fs.existsSync(file)) throw new PromotionError(`meteor-do:bundle: no such file ${file}`);
    return { path: file, sha256: sha256File(file) };
}

function describe(v: unknown): string {
    if (v === undefined) return "nothing";
    const s = JSON.stringify(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
