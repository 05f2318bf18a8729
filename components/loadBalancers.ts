import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "./config";
import { LbFailover } from "./failover";
import { LbConfig, LbConfigArgs } from "./lbConfig";
import { CertificatePair, LoadBalancerHost, LoadBalancerHostArgs } from "./loadBalancer";

/**
 * The site's load balancers: `lb` alone (lbCount 1, the resources and Commands of a stack made before
 * lbCount existed), or `lb` and `lb-1` sharing lb's reserved IP (lbCount 2). Both get the same
 * certificate, the same pushed configuration (so a client lands on the same app host through either)
 * and, with two, the failover (components/failover.ts).
 */
export interface LbHostsArgs extends Omit<LoadBalancerHostArgs, "dropletName" | "certificate" | "standby"> {
    count: StackConfig["lb"]["count"];
    /** Droplet names: `<prefix>-lb`, then `<prefix>-lb-1`. */
    dropletNamePrefix: string;
    /** The certificate, made once from the reserved IP's address for every LB. */
    certificate: (publicIp: pulumi.Output<string>) => CertificatePair;
}

/** The LB droplets with their first Commands and certificate; lbs[0] is the app hosts' bastion. */
export function lbHosts(args: LbHostsArgs, opts: pulumi.ComponentResourceOptions): LoadBalancerHost[] {
    const { count, dropletNamePrefix, certificate, ...common } = args;
    let pair: CertificatePair | undefined;
    const once = (ip: pulumi.Output<string>) => (pair ??= certificate(ip));
    const first = new LoadBalancerHost(
        "lb",
        {
            ...common,
            dropletName: `${dropletNamePrefix}-lb`,
            certificate: once,
            ...(count === 2 ? { standby: {} } : {}),
        },
        opts,
    );
    if (count === 1) return [first];
    const second = new LoadBalancerHost(
        "lb-1",
        {
            ...common,
            dropletName: `${dropletNamePrefix}-lb-1`,
            certificate: once,
            standby: { reservedIp: first.reservedIp },
        },
        opts,
    );
    return [first, second];
}

export interface LbConfigsArgs extends Omit<LbConfigArgs, "connection" | "lbPrivateIp" | "dependsOn" | "hostId"> {
    lbs: LoadBalancerHost[];
    /** What each LB's push waits for besides its tools and certificate (Let's Encrypt's preparation). */
    dependsOn: (lb: LoadBalancerHost) => pulumi.Resource[];
    /** lbCount 2: the DigitalOcean API the LBs assign the reserved IP with. */
    failover?: { apiUrl: string; apiToken: pulumi.Output<string> };
}

/**
 * The same nginx configuration pushed to every LB (each with its own private address), then, with two
 * LBs, the failover, once both serve. `lb-config` is lb's, `lb-1-config` lb-1's.
 */
export function lbConfigs(args: LbConfigsArgs, opts: pulumi.ComponentResourceOptions): LbConfig[] {
    const { lbs, dependsOn, failover, ...site } = args;
    const configs = lbs.map(
        (lb, i) =>
            new LbConfig(
                i === 0 ? "lb-config" : `${lb.hostName}-config`,
                {
                    ...site,
                    connection: lb.connection,
                    lbPrivateIp: lb.privateIp,
                    dependsOn: [lb.ready.tools, lb.certificateInstalled, ...dependsOn(lb)],
                    hostId: lb.ready.hostId,
                },
                opts,
            ),
    );
    if (lbs.length === 2) {
        if (!failover)
            throw new Error("two load balancers need failover settings (lb.failover: the API token and URL)");
        new LbFailover(
            "lb-pair",
            {
                lbs: [lbs[0], lbs[1]],
                reservedIp: lbs[0].publicIp,
                apiUrl: failover.apiUrl,
                apiToken: failover.apiToken,
                ready: [[configs[0].push], [configs[1].push]],
            },
            opts,
        );
    }
    return configs;
}
