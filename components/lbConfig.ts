import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as remote from "@pulumi/command/remote";
import { tarGzBase64 } from "./archive";
import { runTool, trigger } from "./commands";
import { HealthCheck } from "./config";
import { filesHash } from "./hash";
import { LB_ACME_WEBROOT, LB_ADMIN_PORT, LB_HOST_PATHS, LbView, renderNginx } from "../nginx/render";

export interface LbConfigArgs {
    connection: command.types.input.remote.ConnectionArgs;
    /** App droplets' private IPs, in host order. */
    peers: pulumi.Input<pulumi.Input<string>[]>;
    appPort: number;
    /** The LB's own private IP: the admin API treats calls from it like calls from 127.0.0.1. */
    lbPrivateIp: pulumi.Input<string>;
    vpcCidr: pulumi.Input<string>;
    /** Domain or public IP; also the Host header of http health checks. */
    serverName: pulumi.Input<string>;
    healthCheck: HealthCheck;
    stickiness: "ip" | "cookie";
    trustedProxyCount: number;
    /** CIDRs of the trusted proxies; required when trustedProxyCount > 1 (see nginx/render.ts). */
    realIpFrom?: string[];
    adminCidrs: string[];
    /** Paths on the LB host (written by the TLS Command before this push). */
    tls: { certificate: string; privateKey: string; selfSigned: boolean };
    /** The host's tools Command and the TLS Command. */
    dependsOn: pulumi.Resource[];
    /**
     * The LB droplet's id (HostReady.hostId). When set it leads the push's triggers, so a replaced
     * droplet gets its configuration again even though no file changed.
     */
    hostId?: pulumi.Input<string>;
}

/** The values LbConfig renders, once every Input is known. */
export type LbResolved = pulumi.Unwrap<Omit<LbConfigArgs, "connection" | "dependsOn" | "hostId">>;

/** The production view: Debian's paths, public ports 80/443, admin 8181 on all interfaces. */
export function productionView(r: LbResolved): LbView {
    return {
        peers: r.peers.map((ip) => ({ ip, port: r.appPort })),
        healthCheck: { ...r.healthCheck, host: r.serverName },
        stickiness: r.stickiness,
        trustedProxyCount: r.trustedProxyCount,
        realIpFrom: r.realIpFrom,
        serverName: r.serverName,
        tls: r.tls,
        statusAllow: ["127.0.0.0/8", "::1", r.vpcCidr, ...r.adminCidrs],
        adminSelf: [r.lbPrivateIp],
        listen: { http: 80, https: 443, admin: LB_ADMIN_PORT },
        paths: { ...LB_HOST_PATHS },
        acmeWebroot: LB_ACME_WEBROOT,
        user: "www-data",
        workerProcesses: "auto",
        workerRlimitNofile: 65536,
    };
}

/**
 * The nginx configuration of the LB droplet: renders nginx/ for the app peers and pushes it with
 * lb-push.sh (validate, trial start, atomic swap, reload). `push` is what later steps wait for.
 */
export class LbConfig extends pulumi.ComponentResource {
    readonly push: remote.Command;
    readonly filesHash: pulumi.Output<string>;

    constructor(name: string, args: LbConfigArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:lb:LbConfig", name, {}, opts);
        if (!Number.isInteger(args.appPort) || args.appPort < 1 || args.appPort > 65535) {
            throw new Error(`appPort must be a TCP port, got ${args.appPort}`);
        }
        if (args.stickiness !== "ip" && args.stickiness !== "cookie") {
            throw new Error(`stickiness must be "ip" or "cookie", got "${args.stickiness}"`);
        }
        if (args.trustedProxyCount > 1 && !(args.realIpFrom ?? []).length) {
            throw new Error(
                "trustedProxyCount > 1 needs realIpFrom (the CIDRs of the proxies in front of the load balancer)",
            );
        }

        const files = pulumi
            .all([args.peers, args.lbPrivateIp, args.vpcCidr, args.serverName])
            .apply(([peers, lbPrivateIp, vpcCidr, serverName]) =>
                renderNginx(
                    productionView({
                        peers,
                        appPort: args.appPort,
                        lbPrivateIp,
                        vpcCidr,
                        serverName,
                        healthCheck: args.healthCheck,
                        stickiness: args.stickiness,
                        trustedProxyCount: args.trustedProxyCount,
                        realIpFrom: args.realIpFrom,
                        adminCidrs: args.adminCidrs,
                        tls: args.tls,
                    }),
                ),
            );
        this.filesHash = files.apply(filesHash);

        this.push = new remote.Command(
            `${name}-push`,
            {
                connection: args.connection,
                create: runTool("lb-push.sh"),
                stdin: files.apply((f) => tarGzBase64(f)),
                triggers: [
                    ...(args.hostId === undefined ? [] : [trigger("droplet", args.hostId)]),
                    trigger("nginx", this.filesHash),
                ],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: args.dependsOn },
        );

        this.registerOutputs({ push: this.push, filesHash: this.filesHash });
    }
}
