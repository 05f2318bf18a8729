// lbCount 2: before the engine powers an LB droplet off (a resize or another in-place change DigitalOcean
// makes on a stopped droplet) or deletes it (a replacement, lb-1 removed), the LB hands the reserved IP to
// the other one if it holds it: the same handOver as `npm run ops -- failover` (lib/handover.ts), run by
// Pulumi resource hooks inside `pulumi up` on the operator's machine. Hooks do not run on preview.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { isDeepStrictEqual } from "util";
import * as pulumi from "@pulumi/pulumi";
import { deployUser } from "../lib/layout";
import { handOver, RoleRunner } from "../lib/handover";
import type { SshTarget } from "../lib/ssh";
import { Runner } from "../lib/sshRunner";

/** An Output's value once known (in a hook, which runs after the program resolved it; never on preview). */
export function valueOf<T>(o: pulumi.Input<T>): Promise<T> {
    return new Promise((resolve) => pulumi.output(o).apply((v) => resolve(v as T)));
}

/** Droplet inputs DigitalOcean changes on a running droplet: an update of these alone needs no handover. */
export const changedWhileRunning = ["tags", "name", "backups", "backupPolicy", "volumeIds", "gracefulShutdown"];

/**
 * The droplet inputs an update changes that make DigitalOcean power the droplet off (sorted). The SDK hands
 * a hook each secret input (userData) as a secret Output: compared by value.
 */
export async function powerOffChanges(
    oldInputs: Record<string, unknown> = {},
    newInputs: Record<string, unknown> = {},
): Promise<string[]> {
    const value = (v: unknown) => (pulumi.Output.isInstance(v) ? valueOf(v) : v);
    const keys = [...new Set([...Object.keys(oldInputs), ...Object.keys(newInputs)])].filter(
        (k) => !k.startsWith("__") && !changedWhileRunning.includes(k),
    );
    const changed = await Promise.all(
        keys.map(async (k) => !isDeepStrictEqual(await value(oldInputs[k]), await value(newInputs[k]))),
    );
    return keys.filter((_, i) => changed[i]).sort();
}

/** Where a droplet is now: its id and its own public address. */
export interface DropletAt {
    id: string;
    ip: string;
}

export interface HandoverLb {
    /** The program's name (lb, lb-1) and the droplet's name. */
    name: string;
    droplet: string;
    /** The droplet's pinned SSH host key (public half), read when a hook runs. */
    hostKey: () => Promise<string>;
}

export interface HandoverSettings {
    stack: string;
    self: HandoverLb;
    /** The other LB and where its droplet is when a hook of this one runs. */
    other: HandoverLb & { at: () => Promise<DropletAt> };
    /** The LB role's deploy key (the deploy user runs lb-role.sh with sudo): only ever in a 0600 file. */
    deployPrivateKey: Promise<string>;
    /** How long the other LB may take to become a ready standby, and then to report active (ms). */
    standbyWaitMs: number;
    timeoutMs: number;
    pollMs?: number;
}

/** Makes the SSH runner (tests give a fake one). */
export type RunnerFactory = (target: SshTarget, o: { stateDir: string; identity: string }) => RoleRunner;
const sshRunner: RunnerFactory = (target, o) => new Runner(target, o);
const notFound = { code: 255, stdout: "", stderr: "no such droplet" };

/**
 * Hands the address from `self` (the droplet about to be powered off or deleted) to the other LB, when
 * self holds it. The deploy key and the ssh files live in a 0700 temp dir, removed whatever happens.
 * Throws (the engine then leaves the droplet alone) when the other LB is no ready standby in time.
 */
export async function handOverBefore(
    s: HandoverSettings,
    self: DropletAt,
    why: string,
    print: (line: string) => void,
    makeRunner: RunnerFactory = sshRunner,
): Promise<void> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-handover-"));
    try {
        const identity = path.join(dir, "deploy-key");
        fs.writeFileSync(identity, await s.deployPrivateKey, { mode: 0o600 });
        const host = async (lb: HandoverLb, at: DropletAt) => ({
            name: lb.name,
            droplet: lb.droplet,
            dropletId: at.id,
            publicIp: at.ip,
            // Unused: an LB is reached at its own public address.
            privateIp: "",
            hostKey: await lb.hostKey(),
        });
        // No other droplet (lbCount 1 -> 2 with a resize in the same up): it counts as unreachable.
        const otherAt = await s.other.at().catch((e: Error) => {
            print(`${s.other.name} (${s.other.droplet}) not found: ${e.message}`);
            return undefined;
        });
        const lbs = [await host(s.self, self), ...(otherAt ? [await host(s.other, otherAt)] : [])];
        const first = lbs.find((l) => l.name === "lb") ?? lbs[0];
        const target: SshTarget = { stack: s.stack, lb: first, lbs, hosts: [], user: deployUser };
        const ssh = makeRunner(target, { stateDir: dir, identity });
        const r: RoleRunner = otherAt
            ? ssh
            : { run: (h, c, t) => (h === s.self.name ? ssh.run(h, c, t) : Promise.resolve(notFound)) };
        print(`before ${why}: making sure ${s.other.name} holds the address`);
        const done = await handOver(r, [s.self, s.other], print, {
            from: s.self.name,
            standbyWaitMs: s.standbyWaitMs,
            timeoutMs: s.timeoutMs,
            pollMs: s.pollMs,
        });
        if (done.code !== 0)
            throw new Error(
                `${s.self.name}: the handover to ${s.other.name} before ${why} did not complete (see the messages above); the droplet was not changed`,
            );
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** The name of an LB droplet's handover hook (`lb-1-droplet-handover-delete`). */
export const hookName = (lb: string, kind: "update" | "delete") => `${lb}-droplet-handover-${kind}`;

/**
 * lbCount 1: lb-1's droplet, if the state has one (2 -> 1), is deleted with its delete hook's name; the
 * engine needs that hook registered. Its ReservedIpAssignment has put the address on lb: nothing to do.
 */
export function removedLbHook(): pulumi.ResourceHook {
    return new pulumi.ResourceHook(hookName("lb-1", "delete"), () =>
        pulumi.log.info("lb-1: removed (lbCount 1); the reserved IP is on lb (its assignment): nothing to hand over"),
    );
}

/**
 * The hooks of one LB droplet (lbCount 2): beforeUpdate when the update powers it off, beforeDelete
 * always. Named, as delete hooks must be: `<lb>-droplet-handover-update` and `-delete`.
 */
export function handoverHooks(s: HandoverSettings): pulumi.ResourceHookBinding {
    const print = (line: string) => pulumi.log.info(`${s.self.name}: ${line}`);
    const before = (a: pulumi.ResourceHookArgs, why: string) =>
        handOverBefore(s, { id: String(a.id), ip: String(a.oldOutputs?.ipv4Address ?? "") }, why, print);
    return {
        beforeUpdate: [
            new pulumi.ResourceHook(hookName(s.self.name, "update"), async (a) => {
                const changes = await powerOffChanges(a.oldInputs, a.newInputs);
                if (changes.length > 0) await before(a, `the change of ${changes.join(", ")}`);
            }),
        ],
        beforeDelete: [new pulumi.ResourceHook(hookName(s.self.name, "delete"), (a) => before(a, "its delete"))],
    };
}
