import * as pulumi from "@pulumi/pulumi";
import * as remote from "@pulumi/command/remote";
import { runTool, trigger } from "./commands";
import { sha256 } from "./hash";
import { hostScripts } from "./hostTools";
import type { LoadBalancerHost } from "./loadBalancer";

export interface LbFailoverArgs {
    /** The two LBs, lb-0 first (the higher VRRP priority: the master of a first `up`). */
    lbs: [LoadBalancerHost, LoadBalancerHost];
    /** The reserved IP both LBs claim. */
    reservedIp: pulumi.Input<string>;
    /** DigitalOcean API base URL (digitaloceanApiUrl) and the token (secret: stdin only). */
    apiUrl: string;
    apiToken: pulumi.Output<string>;
    /** Per LB, what must be in place before its keepalived may claim the address (its nginx push). */
    ready: [pulumi.Resource[], pulumi.Resource[]];
}

/** The failover.sh configure line of LB `index` (pure, for the unit suite). */
export function configureCommand(o: {
    index: 0 | 1;
    selfPrivateIp: string;
    peerPrivateIp: string;
    peerKey: string;
    reservedIp: string;
    dropletId: string;
    apiUrl: string;
    /** Names this configuration: `remove` with another generation (a replaced Command's delete) leaves it. */
    generation: string;
}): string {
    return runTool(
        "failover.sh",
        "configure",
        "--index",
        String(o.index),
        "--self-private",
        o.selfPrivateIp,
        "--peer-private",
        o.peerPrivateIp,
        "--peer-key",
        o.peerKey,
        "--reserved-ip",
        o.reservedIp,
        "--droplet-id",
        o.dropletId,
        "--api",
        o.apiUrl,
        "--generation",
        o.generation,
    );
}

/**
 * lbCount 2: the WireGuard tunnel between the LBs and keepalived inside it (failover.sh), so the survivor
 * assigns the reserved IP to itself (lb-takeover.sh). Per LB: `<lb>-wg-key` (makes the key pair on the
 * host, prints the public half), `<lb>-failover-token` (the token on stdin into a root-only file), then
 * `<lb>-failover` (tunnel and keepalived, with the other LB's public key: key Commands first, config
 * Commands second, no cycle). lb-1's waits for lb-0's, so lb-0 is master before lb-1 starts.
 */
export class LbFailover extends pulumi.ComponentResource {
    readonly configured: remote.Command[];

    constructor(name: string, args: LbFailoverArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:lb:LbFailover", name, {}, opts);
        const parent = { parent: this };
        const scripts = hostScripts();
        const scriptsHash = sha256(["failover.sh", "lb-role.sh", "lb-takeover.sh"].map((s) => scripts[s]).join(""));
        const tokenHash = pulumi.secret(args.apiToken.apply(sha256));

        const keyCommands = args.lbs.map(
            (lb) =>
                new remote.Command(
                    `${lb.hostName}-wg-key`,
                    {
                        connection: lb.connection,
                        create: runTool("failover.sh", "key"),
                        triggers: [trigger("droplet", lb.ready.hostId)],
                        addPreviousOutputInEnv: false,
                    },
                    { ...parent, dependsOn: [lb.ready.tools] },
                ),
        );
        // The public key is the last line the key Command prints.
        const keys = keyCommands.map((k) => k.stdout.apply((out) => out.trim().split("\n").pop() ?? ""));
        const tokens = args.lbs.map(
            (lb) =>
                new remote.Command(
                    `${lb.hostName}-failover-token`,
                    {
                        connection: lb.connection,
                        create: runTool("failover.sh", "token"),
                        stdin: pulumi.secret(pulumi.interpolate`${args.apiToken}\n`),
                        triggers: [trigger("droplet", lb.ready.hostId), trigger("token", tokenHash)],
                        addPreviousOutputInEnv: false,
                    },
                    { ...parent, dependsOn: [lb.ready.tools] },
                ),
        );

        this.configured = [];
        args.lbs.forEach((lb, index) => {
            const other = args.lbs[1 - index];
            const settings = pulumi
                .all([lb.privateIp, other.privateIp, keys[1 - index], args.reservedIp, lb.droplet.id])
                .apply(([selfPrivateIp, peerPrivateIp, peerKey, reservedIp, dropletId]) => {
                    const o = { index: index as 0 | 1, selfPrivateIp, peerPrivateIp, peerKey, reservedIp, dropletId };
                    // A replacement creates the new Command before it deletes the old one: the old one's
                    // `remove` must not undo the new configuration, so each names its own generation.
                    return {
                        ...o,
                        apiUrl: args.apiUrl,
                        generation: sha256(JSON.stringify([o, args.apiUrl, scriptsHash])),
                    };
                });
            this.configured.push(
                new remote.Command(
                    `${lb.hostName}-failover`,
                    {
                        connection: lb.connection,
                        create: settings.apply(configureCommand),
                        delete: settings.apply((s) => runTool("failover.sh", "remove", "--generation", s.generation)),
                        triggers: [trigger("droplet", lb.ready.hostId), trigger("scripts", scriptsHash)],
                        addPreviousOutputInEnv: false,
                    },
                    {
                        ...parent,
                        dependsOn: [tokens[index], ...keyCommands, ...args.ready[index], ...this.configured],
                    },
                ),
            );
        });
        this.registerOutputs({});
    }
}
