import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import * as remote from "@pulumi/command/remote";
import { appUserData } from "./cloudInit";
import { debianDroplet, DropletBaseArgs } from "./droplet";
import { Connection, connectionTo, ProxyConnection } from "./commands";
import { HostReady } from "./hostTools";

export interface AppServersArgs extends DropletBaseArgs {
    count: number;
    /** Droplet names are `${dropletNamePrefix}-<n>`, n from 1. */
    dropletNamePrefix: string;
    nodeVersion: string;
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
            const droplet = debianDroplet(hostName, `${args.dropletNamePrefix}-${i}`, args, userData, { parent: this });
            const connection = connectionTo(droplet.ipv4AddressPrivate, args.deployPrivateKey, proxy);
            const ready = new HostReady(`${hostName}-host`, { connection, hostId: droplet.id, dependsOn: [args.bastionReady] }, { parent: this });
            this.hosts.push({ name: hostName, droplet, privateIp: droplet.ipv4AddressPrivate, connection, ready });
        }
        this.registerOutputs({ privateIps: this.hosts.map((h) => h.privateIp) });
    }
}
