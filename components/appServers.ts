import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import * as remote from "@pulumi/command/remote";
import { appUserData } from "./cloudInit";
import { debianDroplet, DropletBaseArgs } from "./droplet";
import { Connection, connectionTo, installRuntime, ProxyConnection, trigger } from "./commands";
import { HostReady } from "./hostTools";

export interface AppServersArgs extends DropletBaseArgs {
    count: number;
    /** Droplet names are `${dropletNamePrefix}-<n>`, n from 1. */
    dropletNamePrefix: string;
    /** Exact X.Y.Z (an Output when read from the bundle). */
    nodeVersion: pulumi.Input<string>;
    nodeDistUrl: string;
    stopGraceSeconds: number;
    /** The load balancer: app droplets are reached through it (bastion) once it is ready. */
    bastion: Connection;
    bastionReady: pulumi.Resource;
}

export interface AppHost {
    name: string;
    droplet: digitalocean.Droplet;
    privateIp: pulumi.Output<string>;
    connection: Connection;
    ready: HostReady;
    /** Node.js and the unit's stop timeout; what the release's Commands wait for. */
    runtime: remote.Command;
    /** The runtime's triggers: the app must restart (host by host) when one changes. */
    runtimeTriggers: pulumi.Output<string>[];
}

/**
 * The Meteor app droplets: Debian 12 on the VPC, the meteor-app unit from cloud-init, and per host the
 * cloud-init gate, the host scripts and the runtime (Node.js, the unit's stop timeout), reached over SSH
 * through the load balancer. The runtime is a Command, not user-data: user-data changes replace a
 * droplet, all of them at once, while a new Node.js version must roll one host at a time.
 */
export class AppServers extends pulumi.ComponentResource {
    readonly hosts: AppHost[];

    constructor(name: string, args: AppServersArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:app:AppServers", name, {}, opts);
        if (!Number.isInteger(args.count) || args.count < 1) {
            throw new Error(`AppServers: count must be an integer of 1 or more, got ${args.count}`);
        }
        const userData = pulumi
            .output(args.deployPublicKey)
            .apply((deployPublicKey) => appUserData({ deployPublicKey }));
        const runtimeTriggers = [
            trigger("node", args.nodeVersion),
            trigger("nodeDist", args.nodeDistUrl),
            trigger("stopGrace", args.stopGraceSeconds),
        ];
        const { host: _host, ...bastionRest } = args.bastion;
        const proxy: ProxyConnection = { host: args.bastion.host, ...bastionRest };

        this.hosts = [];
        for (let i = 1; i <= args.count; i++) {
            const hostName = `${name}-${i}`;
            const droplet = debianDroplet(hostName, `${args.dropletNamePrefix}-${i}`, args, userData, { parent: this });
            const connection = connectionTo(droplet.ipv4AddressPrivate, args.deployPrivateKey, proxy);
            const ready = new HostReady(
                `${hostName}-host`,
                { connection, hostId: droplet.id, dependsOn: [args.bastionReady] },
                { parent: this },
            );
            const runtime = new remote.Command(
                `${hostName}-runtime`,
                {
                    connection,
                    create: pulumi
                        .output(args.nodeVersion)
                        .apply((v) => installRuntime(v, args.nodeDistUrl, args.stopGraceSeconds)),
                    triggers: [trigger("droplet", ready.hostId), ...runtimeTriggers],
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: [ready.tools] },
            );
            this.hosts.push({
                name: hostName,
                droplet,
                privateIp: droplet.ipv4AddressPrivate,
                connection,
                ready,
                runtime,
                runtimeTriggers,
            });
        }
        this.registerOutputs({ privateIps: this.hosts.map((h) => h.privateIp) });
    }
}
