// What `npm run ops` needs to know about a stack: the `ops` output of the program (host names, addresses,
// the operator user and the cutover settings), read from `pulumi stack output` or from a file.
import { spawnSync } from "child_process";
import * as fs from "fs";
import type { CutoverOptions } from "../components/deploy";
import type { SshHost, SshTarget } from "../lib/ssh";

/** A host of the stack: the program's and the droplet's name, id, private address and host key. */
export type OpsHost = SshHost;

/**
 * The settings a deploy's cutover uses, so that a rollback goes through the same gate. graceSeconds is absent
 * in stacks deployed before cutovers spread connections: cutover.sh's default then.
 */
export type OpsCutover = Pick<
    CutoverOptions,
    | "healthCheckPath"
    | "keepReleases"
    | "restartTimeoutSeconds"
    | "healthTimeoutSeconds"
    | "lbTimeoutSeconds"
    | "graceSeconds"
>;

/** The stack's hosts as ssh reaches them (lib/ssh.ts; `user`: the operator user, operatorSshKeys), and more. */
export interface OpsTarget extends SshTarget {
    appPort: number;
    /** sha256 of the release the stack deploys (its `bundle`, or the release a rollback recorded). */
    release: string;
    /** sha256 of the stack's `bundle`: what a rollback is recorded against. */
    bundle: string;
    cutover: OpsCutover;
}

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const name = /^[a-z0-9][a-z0-9-]{0,62}$/;
const sha = /^[0-9a-f]{64}$/;
const user = /^[a-z_][a-z0-9_-]{0,31}$/;
const hostKeyLine = /^ssh-ed25519 [A-Za-z0-9+/]+={0,2}$/;

/** Checks the `ops` output of a stack (all outputs as `pulumi stack output --json` prints them). */
export function parseOutputs(stack: string, outputs: unknown): OpsTarget {
    const all = outputs as Record<string, unknown> | null;
    const ops = all && typeof all === "object" ? (all.ops as Record<string, unknown> | undefined) : undefined;
    if (!ops || typeof ops !== "object")
        throw new Error(
            `stack ${stack} has no "ops" output: run \`npm run up\` with this version of the program first`,
        );
    const problems: string[] = [];
    const str = (v: unknown, re: RegExp, what: string): string => {
        if (typeof v !== "string" || !re.test(v)) problems.push(`${what} is ${JSON.stringify(v)}`);
        return String(v);
    };
    const int = (v: unknown, min: number, what: string): number => {
        if (typeof v !== "number" || !Number.isInteger(v) || v < min) problems.push(`${what} is ${JSON.stringify(v)}`);
        return Number(v);
    };
    const host = (h: unknown, what: string): OpsHost => {
        const o = (h ?? {}) as Record<string, unknown>;
        return {
            name: str(o.name, name, `${what}.name`),
            droplet: str(o.droplet, name, `${what}.droplet`),
            dropletId: str(o.dropletId, /^[0-9A-Za-z-]{1,64}$/, `${what}.dropletId`),
            privateIp: str(o.privateIp, ipv4, `${what}.privateIp`),
            // A stack deployed before the program made host keys has none: ops then records them on first use.
            ...(o.hostKey === undefined ? {} : { hostKey: str(o.hostKey, hostKeyLine, `${what}.hostKey`) }),
        };
    };
    const lbIn = (ops.lb ?? {}) as Record<string, unknown>;
    const hostsIn = Array.isArray(ops.hosts) ? ops.hosts : [];
    const lbsIn = Array.isArray(ops.lbs) ? (ops.lbs as Record<string, unknown>[]) : undefined;
    if (hostsIn.length === 0) problems.push("hosts is empty");
    const c = (ops.cutover ?? {}) as Record<string, unknown>;
    const target: OpsTarget = {
        stack,
        lb: { ...host(lbIn, "lb"), publicIp: str(lbIn.publicIp, ipv4, "lb.publicIp") },
        ...(lbsIn
            ? {
                  lbs: lbsIn.map((l, i) => ({
                      ...host(l, `lbs[${i}]`),
                      publicIp: str(l.publicIp, ipv4, `lbs[${i}].publicIp`),
                  })),
              }
            : {}),
        hosts: hostsIn.map((h, i) => host(h, `hosts[${i}]`)),
        user: str(ops.user, user, "user"),
        appPort: int(ops.appPort, 1, "appPort"),
        release: str(ops.release, sha, "release"),
        bundle: str(ops.bundle, sha, "bundle"),
        cutover: {
            healthCheckPath: str(c.healthCheckPath, /^\/[\x21-\x7e]*$/, "cutover.healthCheckPath"),
            keepReleases: int(c.keepReleases, 2, "cutover.keepReleases"),
            restartTimeoutSeconds: int(c.restartTimeoutSeconds, 1, "cutover.restartTimeoutSeconds"),
            healthTimeoutSeconds: int(c.healthTimeoutSeconds, 1, "cutover.healthTimeoutSeconds"),
            lbTimeoutSeconds: int(c.lbTimeoutSeconds, 1, "cutover.lbTimeoutSeconds"),
            ...(c.graceSeconds === undefined ? {} : { graceSeconds: int(c.graceSeconds, 0, "cutover.graceSeconds") }),
        },
    };
    const names = [target.lb.name, ...target.hosts.map((h) => h.name)];
    if (target.lbs && !target.lbs.some((l) => l.name === "lb")) problems.push("lbs has no lb");
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup) problems.push(`host name ${dup} appears twice`);
    if (problems.length > 0) throw new Error(`stack ${stack}: the "ops" output is not usable: ${problems.join("; ")}`);
    return target;
}

/** The stack's outputs from the Pulumi CLI (secrets shown: the program's outputs hold none we print). */
export function readStackOutputs(stack: string): unknown {
    const r = spawnSync("pulumi", ["stack", "output", "--json", "--show-secrets", "--stack", stack], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
    });
    if (r.error) throw new Error(`could not run pulumi (is the Pulumi CLI on PATH?): ${r.error.message}`);
    if (r.status !== 0) throw new Error(`pulumi stack output --stack ${stack} failed: ${r.stderr.trim()}`);
    try {
        return JSON.parse(r.stdout);
    } catch (e) {
        throw new Error(`pulumi stack output --stack ${stack} did not print JSON: ${(e as Error).message}`);
    }
}

/** Outputs saved to a file (the JSON of `pulumi stack output --json`), e.g. for a local topology. */
export function readOutputsFile(file: string): unknown {
    try {
        return JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new Error(`--outputs ${file}: not the JSON of \`pulumi stack output --json\` (${(e as Error).message})`);
    }
}

/** Finds an app host by the program's name (app-1) or the droplet's name. */
export function findHost(target: OpsTarget, wanted: string): OpsHost {
    const h = target.hosts.find((x) => x.name === wanted || x.droplet === wanted);
    if (!h)
        throw new Error(
            `--host ${JSON.stringify(wanted)} is not an app host of stack ${target.stack}; hosts: ${target.hosts.map((x) => x.name).join(", ")}`,
        );
    return h;
}
