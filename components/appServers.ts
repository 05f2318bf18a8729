import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import * as remote from "@pulumi/command/remote";
import { appUserData } from "./cloudInit";
import { Connection, connectionTo, ProxyConnection } from "./commands";
import { HostReady } from "./hostTools";

export interface AppServersArgs {
    count: number;
    region: string;
    size: string;
    vpcId: pulumi.Input<string>;
    tags: pulumi.Input<string>[];
    sshKeyFingerprints: pulumi.Input<string>[];
    deployPublicKey: pulumi.Input<string>;
    deployPrivateKey: pulumi.Input<string>;
    /** Droplet names are `${dropletNamePrefix}-<n>`, n from 1. */
    dropletNamePrefix: string;
    nodeVersion: string;
    nodeDistUrl: string;
    stopGraceSeconds: number;
    backups: boolean;
    monitoring: boolean;
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
}

/**
 * The Meteor app droplets: Debian 12 on the VPC, Node.js and the meteor-app unit from cloud-init, and
 * per host the cloud-init gate and host scripts, reached over SSH through the load balancer.
 */
export class AppServers extends pulumi.ComponentResource {
    readonly hosts: AppHost[];

    constructor(name: string, args: AppServersArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:app:AppServers", name, {}, opts);
        if (!Number.isInteger(args.count) || args.count < 1) {
            throw new Error(`AppServers: count must be an integer of 1 or more, got ${args.count}`);
        }
        const userData = pulumi.output(args.deployPublicKey).apply((deployPublicKey) => appUserData({
            deployPublicKey,
            nodeVersion: args.nodeVersion,
            nodeDistUrl: args.nodeDistUrl,
            stopGraceSeconds: args.stopGraceSeconds,
        }));
        const { host: _host, ...bastionRest } = args.bastion;
        const proxy: ProxyConnection = { host: args.bastion.host, ...bastionRest };

        this.hosts = [];
        for (let i = 1; i <= args.count; i++) {
            const hostName = `${name}-${i}`;
            const droplet = new digitalocean.Droplet(hostName, {
                name: `${args.dropletNamePrefix}-${i}`,
                image: "debian-12-x64",
                region: args.region,
                size: args.size,
                vpcUuid: args.vpcId,
                sshKeys: args.sshKeyFingerprints,
                tags: args.tags,
                backups: args.backups,
                monitoring: args.monitoring,
                userData,
            }, { parent: this });
            const connection = connectionTo(droplet.ipv4AddressPrivate, args.deployPrivateKey, proxy);
            const ready = new HostReady(`${hostName}-host`, { connection, hostId: droplet.id, dependsOn: [args.bastionReady] }, { parent: this });
            this.hosts.push({ name: hostName, droplet, privateIp: droplet.ipv4AddressPrivate, connection, ready });
        }
        this.registerOutputs({ privateIps: this.hosts.map((h) => h.privateIp) });
    }
}
