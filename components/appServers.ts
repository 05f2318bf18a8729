import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import * as remote from "@pulumi/command/remote";
import { appUserData } from "./cloudInit";
import { debianDroplet, DropletBaseArgs, hostKey } from "./droplet";
import { restartTimeoutSeconds } from "../lib/layout";
import { Connection, connectionTo, installRuntime, ProxyConnection, runTool, trigger } from "./commands";
import { rebootWindow } from "../lib/layout";
import { sha256 } from "./hash";
import { hostNumbers, pause, PauseOptions, resume, resumeTimeoutSeconds, retire } from "./hostLifecycle";
import { HostReady, hostScripts, hostScriptsDir } from "./hostTools";

const bastionScript = () => fs.readFileSync(path.join(hostScriptsDir, "bastion.sh"), "utf8");

export interface AppServersArgs extends DropletBaseArgs {
    count: number;
    /** Host names (app-N) taken out for good: the others keep their numbers (hostLifecycle.ts hostNumbers). */
    removeHosts?: string[];
    /** Droplet names are `${dropletNamePrefix}-<n>`, n from 1. */
    dropletNamePrefix: string;
    /** Exact X.Y.Z (an Output when read from the bundle). */
    nodeVersion: pulumi.Input<string>;
    nodeDistUrl: string;
    stopGraceSeconds: number;
    /** The app unit's MemoryMax (appMemoryMax). */
    memoryMax: string;
    /** The load balancer: app droplets are reached through it (bastion) once its tools are installed. */
    bastion: Connection;
    /** The LB's tools Command: bastion.sh, and the resize's pause and resume (lb-peer.sh), run there. */
    bastionTools: pulumi.Resource;
    /** The LB droplet's id: a replaced LB gets its tunnel rule again. */
    bastionHostId: pulumi.Input<string>;
    /** Other LBs (lbCount 2: lb-1) that get the same tunnel rule, so ops reach the app hosts through either. */
    otherBastions?: { name: string; connection: Connection; tools: pulumi.Resource; hostId: pulumi.Input<string> }[];
    /** Where the deploy key is accepted from on app hosts (`from=`): the VPC's range. */
    deployFrom: pulumi.Input<string>;
    /**
     * The LB's private address (with two LBs, both, comma-separated: drains go to each) and the app's port:
     * a host's peer name (its retire, its reboot window).
     */
    lbPrivateIp: pulumi.Input<string>;
    appPort: number;
    /** A cutover's timeout: a resized host gets this plus its boot time to be reported up again. */
    cutoverTimeoutSeconds: number;
}

export interface AppHost {
    name: string;
    droplet: digitalocean.Droplet;
    privateIp: pulumi.Output<string>;
    /** The droplet's SSH host key (public half), pinned on every connection to it. */
    hostKey: pulumi.Output<string>;
    connection: Connection;
    ready: HostReady;
    /** Node.js and the unit's stop timeout; what the release's Commands wait for. */
    runtime: remote.Command;
    /** The runtime's triggers: the app must restart (host by host) when one changes. */
    runtimeTriggers: pulumi.Output<string>[];
    /** Before and after a resize of its droplet (hostLifecycle.ts); resume is the next host's `after`. */
    pause: remote.Command;
    resume: remote.Command;
    /** Its `delete` takes the host out of service before the droplet is destroyed. */
    retire: remote.Command;
}

/**
 * The Meteor app droplets: Debian 12 on the VPC, the meteor-app unit from cloud-init, and per host the
 * cloud-init gate, the host scripts and the runtime (Node.js, the unit's stop timeout), reached over SSH
 * through the load balancer. The runtime is a Command, not user-data: user-data changes replace a
 * droplet, all of them at once, while a new Node.js version must roll one host at a time.
 * Each droplet sits in a chain, pause -> droplet -> resume -> next host's pause (hostLifecycle.ts), so a
 * new size powers off one droplet at a time; the price is that a first `up` creates them one after another.
 */
export class AppServers extends pulumi.ComponentResource {
    readonly hosts: AppHost[];

    constructor(name: string, args: AppServersArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:app:AppServers", name, {}, opts);
        if (!Number.isInteger(args.count) || args.count < 1) {
            throw new Error(`AppServers: count must be an integer of 1 or more, got ${args.count}`);
        }
        const runtimeTriggers = [
            trigger("node", args.nodeVersion),
            trigger("nodeDist", args.nodeDistUrl),
            trigger("stopGrace", args.stopGraceSeconds),
            trigger("memoryMax", args.memoryMax),
            // The unit's sandbox is in app-unit.sh: a change to it restarts the app, host by host.
            trigger("appUnit", sha256(hostScripts()["app-unit.sh"])),
        ];
        const { host: _host, ...bastionRest } = args.bastion;
        const proxy: ProxyConnection = { host: args.bastion.host, ...bastionRest };

        // Droplets first (each with its own host key), then the LB's tunnels to exactly them, then their Commands.
        const created: {
            number: number;
            hostName: string;
            key: ReturnType<typeof hostKey>;
            droplet: digitalocean.Droplet;
            paused: remote.Command;
            resumed: remote.Command;
        }[] = [];
        let previous: remote.Command | undefined;
        for (const i of hostNumbers(args.count, args.removeHosts ?? [], name)) {
            const hostName = `${name}-${i}`;
            const dropletName = `${args.dropletNamePrefix}-${i}`;
            const options: PauseOptions = {
                dropletName,
                appPort: args.appPort,
                graceSeconds: args.stopGraceSeconds,
                timeoutSeconds: resumeTimeoutSeconds(args.cutoverTimeoutSeconds),
                size: args.size,
            };
            const otherLbs = (args.otherBastions ?? []).map((o) => ({
                name: o.name,
                connection: o.connection,
                tools: o.tools,
            }));
            const lifecycle = {
                hostName,
                lb: args.bastion,
                lbTools: args.bastionTools,
                options,
                after: previous,
                otherLbs,
            };
            const paused = pause(lifecycle, { parent: this });
            const key = hostKey(hostName, { parent: this });
            const userData = pulumi
                .all([args.deployPublicKey, args.deployFrom, key.privateKeyOpenssh, key.publicKeyOpenssh])
                .apply(([deployPublicKey, deployFrom, privateKeyOpenssh, publicKeyOpenssh]) =>
                    appUserData({ deployPublicKey, deployFrom, hostKey: { privateKeyOpenssh, publicKeyOpenssh } }),
                );
            const droplet = debianDroplet(hostName, dropletName, args, userData, { parent: this, dependsOn: [paused] });
            const resumed = resume(lifecycle, droplet, { parent: this });
            created.push({ number: i, hostName, key, droplet, paused, resumed });
            previous = resumed;
        }
        const bastionCommand = (name: string, lb: Connection, hostId: pulumi.Input<string>, tools: pulumi.Resource) =>
            new remote.Command(
                name,
                {
                    connection: lb,
                    create: pulumi
                        .all(created.map((c) => c.droplet.ipv4AddressPrivate))
                        .apply((ips) => runTool("bastion.sh", ...ips)),
                    triggers: [trigger("droplet", hostId), trigger("script", sha256(bastionScript()))],
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: [tools] },
            );
        const bastion = bastionCommand(`${name}-bastion`, args.bastion, args.bastionHostId, args.bastionTools);
        for (const other of args.otherBastions ?? [])
            bastionCommand(`${name}-bastion-${other.name}`, other.connection, other.hostId, other.tools);

        this.hosts = [];
        for (const { number, hostName, key, droplet, paused, resumed } of created) {
            const connection = connectionTo(
                droplet.ipv4AddressPrivate,
                args.deployPrivateKey,
                proxy,
                key.publicKeyOpenssh,
            );
            const ready = new HostReady(
                `${hostName}-host`,
                { connection, hostId: droplet.id, dependsOn: [bastion] },
                { parent: this },
            );
            const runtime = new remote.Command(
                `${hostName}-runtime`,
                {
                    connection,
                    // The app listens on the private address only: the LB is its one client.
                    create: pulumi
                        .all([args.nodeVersion, droplet.ipv4AddressPrivate, args.lbPrivateIp])
                        .apply(([v, ip, lbIp]) =>
                            installRuntime(v, args.nodeDistUrl, args.stopGraceSeconds, ip, args.memoryMax, {
                                window: rebootWindow(number),
                                peer: `${ip}:${args.appPort}`,
                                lbPrivateIp: lbIp,
                            }),
                        ),
                    triggers: [trigger("droplet", ready.hostId), ...runtimeTriggers],
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: [ready.tools] },
            );
            const retired = retire(
                hostName,
                { connection, privateIp: droplet.ipv4AddressPrivate, tools: ready.tools },
                {
                    appPort: args.appPort,
                    lbPrivateIp: args.lbPrivateIp,
                    stopTimeoutSeconds: restartTimeoutSeconds(args.stopGraceSeconds),
                    graceSeconds: args.stopGraceSeconds,
                },
                { parent: this },
            );
            this.hosts.push({
                name: hostName,
                droplet,
                privateIp: droplet.ipv4AddressPrivate,
                hostKey: key.publicKeyOpenssh,
                connection,
                ready,
                runtime,
                runtimeTriggers,
                pause: paused,
                resume: resumed,
                retire: retired,
            });
        }
        this.registerOutputs({ privateIps: this.hosts.map((h) => h.privateIp) });
    }
}
