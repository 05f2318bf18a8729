// Resize and scale down without dropping users: the Commands that take an app host out of service before
// DigitalOcean powers its droplet off (a resize) or destroys it (a removed host), and put it back after.
//   resize, one host at a time: app-N-pause (on the LB: drain, close its connections over the grace
//   period) -> the droplet's update (power off, resize, power on) -> app-N-resume (on the LB: wait until
//   the checker reports it up, undrain) -> app-(N+1)-pause ... Pulumi updates independent resources in
//   parallel, so this chain is what keeps a second droplet up while one is off.
//   removed host: app-N-retire's `delete` (on the host: drain, stop the app with its grace period). It
//   depends on the droplet, so Pulumi deletes it, and runs it, before the droplet, while host and LB exist.
// Pause and resume have no `create`: nothing is paused when a host is created. Their `update` names the
// droplet size, so a new size (and only a change of what they print) runs them.
import * as pulumi from "@pulumi/pulumi";
import * as remote from "@pulumi/command/remote";
import { Connection, runTool } from "./commands";

export interface PauseOptions {
    /** The droplet's name, as the LB's peers list it (its address is not known before its resource). */
    dropletName: string;
    appPort: number;
    /** Seconds over which the LB closes the host's connections (stopGraceSeconds). */
    graceSeconds: number;
    /** Seconds the resumed host may take to boot and be reported up. */
    timeoutSeconds: number;
    /** The droplet size the pause is for: changing it runs the pause and the resume again. */
    size: string;
}

function lbPeer(action: "pause" | "resume", o: PauseOptions): string {
    return runTool(
        "lb-peer.sh",
        action,
        "--host",
        o.dropletName,
        "--port",
        String(o.appPort),
        "--grace",
        String(o.graceSeconds),
        "--timeout",
        String(o.timeoutSeconds),
        "--why",
        `size=${o.size}`,
    );
}

/** On the LB, before a resize: drain the droplet's peer and move its connections off over the grace period. */
export function pauseCommand(o: PauseOptions): string {
    return lbPeer("pause", o);
}

/** On the LB, after a resize: wait until the checker reports the peer up, then undrain it. */
export function resumeCommand(o: PauseOptions): string {
    return lbPeer("resume", o);
}

/** On the app host, before its droplet is destroyed: drain it and stop the app with its grace period. */
export function retireCommand(o: {
    peer: string;
    lbPrivateIp: string;
    stopTimeoutSeconds: number;
    /** Seconds over which the host's client connections are closed before the app stops (stopGraceSeconds). */
    graceSeconds: number;
}): string {
    return runTool(
        "retire.sh",
        "--peer",
        o.peer,
        "--lb",
        o.lbPrivateIp,
        "--stop-timeout",
        String(o.stopTimeoutSeconds),
        "--grace",
        String(o.graceSeconds),
    );
}

/** How long a resumed droplet may take: DigitalOcean's power-on and boot, then a cutover's own timeout. */
export function resumeTimeoutSeconds(cutoverTimeoutSeconds: number): number {
    return cutoverTimeoutSeconds + 240;
}

/**
 * The host numbers for `count` hosts without the removed names (app-N): hosts keep their numbers, so
 * removing app-2 of app-1..app-4 leaves app-1, app-3 and app-4 untouched, and a later scale-up adds app-5.
 */
export function hostNumbers(count: number, removed: string[], prefix = "app"): number[] {
    const skip = new Set(removed);
    const numbers: number[] = [];
    for (let n = 1; numbers.length < count; n++) if (!skip.has(`${prefix}-${n}`)) numbers.push(n);
    return numbers;
}

export interface LifecycleArgs {
    hostName: string;
    /** The LB's connection (the pause and resume run there) and its tools Command (lb-peer.sh). */
    lb: Connection;
    lbTools: pulumi.Resource;
    options: PauseOptions;
    /** The resume of the host before this one: hosts resize one after another. */
    after?: pulumi.Resource;
    /**
     * lbCount 2: the other LB, where the host is paused first and resumed first too (`<host>-pause-lb-1`,
     * `<host>-resume-lb-1`), so `lb`'s own pause and resume stay the ends of the chain.
     */
    otherLbs?: { name: string; connection: Connection; tools: pulumi.Resource }[];
}

/** A host's pause Command; its droplet must depend on it. */
export function pause(a: LifecycleArgs, opts: pulumi.CustomResourceOptions): remote.Command {
    const after = a.after ? [a.after] : [];
    const others = (a.otherLbs ?? []).map(
        (o) =>
            new remote.Command(
                `${a.hostName}-pause-${o.name}`,
                { connection: o.connection, update: pauseCommand(a.options), addPreviousOutputInEnv: false },
                { ...opts, dependsOn: [o.tools, ...after] },
            ),
    );
    return new remote.Command(
        `${a.hostName}-pause`,
        { connection: a.lb, update: pauseCommand(a.options), addPreviousOutputInEnv: false },
        { ...opts, dependsOn: [a.lbTools, ...after, ...others] },
    );
}

/** A host's resume Command, after its droplet. */
export function resume(a: LifecycleArgs, droplet: pulumi.Resource, opts: pulumi.CustomResourceOptions): remote.Command {
    const others = (a.otherLbs ?? []).map(
        (o) =>
            new remote.Command(
                `${a.hostName}-resume-${o.name}`,
                { connection: o.connection, update: resumeCommand(a.options), addPreviousOutputInEnv: false },
                { ...opts, dependsOn: [o.tools, droplet] },
            ),
    );
    return new remote.Command(
        `${a.hostName}-resume`,
        { connection: a.lb, update: resumeCommand(a.options), addPreviousOutputInEnv: false },
        { ...opts, dependsOn: [a.lbTools, droplet, ...others] },
    );
}

/** A host's retire Command: nothing on create; its `delete` runs before the droplet is destroyed. */
export function retire(
    hostName: string,
    host: { connection: Connection; privateIp: pulumi.Input<string>; tools: pulumi.Resource },
    o: { appPort: number; lbPrivateIp: pulumi.Input<string>; stopTimeoutSeconds: number; graceSeconds: number },
    opts: pulumi.CustomResourceOptions,
): remote.Command {
    return new remote.Command(
        `${hostName}-retire`,
        {
            connection: host.connection,
            delete: pulumi.all([host.privateIp, o.lbPrivateIp]).apply(([ip, lbIp]) =>
                retireCommand({
                    peer: `${ip}:${o.appPort}`,
                    lbPrivateIp: lbIp,
                    stopTimeoutSeconds: o.stopTimeoutSeconds,
                    graceSeconds: o.graceSeconds,
                }),
            ),
            addPreviousOutputInEnv: false,
        },
        { ...opts, dependsOn: [host.tools] },
    );
}
