import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "./config";
import type { SiteDns } from "./dns";
import * as digitalocean from "@pulumi/digitalocean";
import { LbFailover } from "./failover";
import { DropletAt, HandoverLb, handoverHooks, removedLbHook, valueOf } from "./lbHandover";
import { LetsEncrypt } from "./letsencrypt";
import { LbConfig, LbConfigArgs } from "./lbConfig";
import { CertificatePair, LoadBalancerHost, LoadBalancerHostArgs } from "./loadBalancer";
import { certbot } from "./siteServices";
import { SiteCertificate } from "./tls";

/**
 * The site's load balancers: `lb` alone (lbCount 1, the resources and Commands of a stack made before
 * lbCount existed), or `lb` and `lb-1` sharing lb's reserved IP (lbCount 2). Both get the same
 * certificate, the same pushed configuration (so a client lands on the same app host through either)
 * and, with two, the failover (components/failover.ts).
 */
export interface LbHostsArgs extends Omit<
    LoadBalancerHostArgs,
    "dropletName" | "certificate" | "standby" | "dropletOptions"
> {
    count: StackConfig["lb"]["count"];
    /** Droplet names: `<prefix>-lb`, then `<prefix>-lb-1`. */
    dropletNamePrefix: string;
    /** The certificate's settings: one certificate (`site`), made from the reserved IP's address, on every LB. */
    tls: StackConfig["tls"];
}

/** The LB droplets with their first Commands and certificate; lbs[0] is the app hosts' bastion. */
export function lbHosts(args: LbHostsArgs, opts: pulumi.ComponentResourceOptions): LoadBalancerHost[] {
    const { count, dropletNamePrefix, tls, ...common } = args;
    let pair: CertificatePair | undefined;
    // letsencrypt: nginx serves a self-signed pair until certbot has issued, so it always starts.
    const certificate = (ipAddress: pulumi.Output<string>) =>
        new SiteCertificate(
            "site",
            {
                mode: tls.mode === "letsencrypt" ? "self-signed" : tls.mode,
                domain: tls.domain,
                ipAddress,
                certificatePem: tls.certificate,
                privateKeyPem: tls.privateKey,
            },
            opts,
        );
    const once = (ip: pulumi.Output<string>) => (pair ??= certificate(ip));
    const names = [`${dropletNamePrefix}-lb`, `${dropletNamePrefix}-lb-1`];
    if (count === 1) {
        removedLbHook();
        return [new LoadBalancerHost("lb", { ...common, dropletName: names[0], certificate: once }, opts)];
    }
    // Each droplet's hooks need the other LB's host key: read when a hook runs, both hosts are made by then.
    const made: LoadBalancerHost[] = [];
    const lbs: HandoverLb[] = names.map((droplet, i) => ({
        name: i === 0 ? "lb" : "lb-1",
        droplet,
        hostKey: () => valueOf(made[i].hostKey),
    }));
    const settings = (i: 0 | 1, at: () => Promise<DropletAt>) => ({
        stack: pulumi.getStack(),
        self: lbs[i],
        other: { ...lbs[1 - i], at },
        deployPrivateKey: valueOf(common.deployPrivateKey),
        standbyWaitMs: 180_000,
        timeoutMs: 60_000,
    });
    // lb-1's droplet is registered only once lb's change is done, so lb's hooks find it by name.
    const lb1At = () =>
        digitalocean.getDroplet({ name: names[1] }).then((d) => ({ id: String(d.id), ip: d.ipv4Address }));
    const first = new LoadBalancerHost(
        "lb",
        {
            ...common,
            dropletName: names[0],
            certificate: once,
            standby: {},
            dropletOptions: { hooks: handoverHooks(settings(0, lb1At)) },
        },
        opts,
    );
    const lbAt = () =>
        Promise.all([valueOf(first.droplet.id), valueOf(first.dropletIp)]).then(([id, ip]) => ({ id, ip }));
    const second = new LoadBalancerHost(
        "lb-1",
        {
            ...common,
            dropletName: names[1],
            certificate: once,
            standby: { reservedIp: first.reservedIp },
            // Never both at once: a size change (one key for both) resizes lb-1 after lb is back.
            dropletOptions: { hooks: handoverHooks(settings(1, lbAt)), dependsOn: [first.droplet] },
        },
        opts,
    );
    made.push(first, second);
    return made;
}

export interface LbConfigsArgs extends Omit<
    LbConfigArgs,
    "connection" | "lbPrivateIp" | "otherLbPrivateIp" | "lbName" | "dependsOn" | "hostId"
> {
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
export function lbConfigs(
    args: LbConfigsArgs,
    opts: pulumi.ComponentResourceOptions,
): { configs: LbConfig[]; failover?: LbFailover } {
    const { lbs, dependsOn, failover, ...site } = args;
    const configs = lbs.map(
        (lb, i) =>
            new LbConfig(
                i === 0 ? "lb-config" : `${lb.hostName}-config`,
                {
                    ...site,
                    connection: lb.connection,
                    lbPrivateIp: lb.privateIp,
                    ...(lbs.length === 2 ? { otherLbPrivateIp: lbs[1 - i].privateIp, lbName: lb.droplet.name } : {}),
                    dependsOn: [lb.ready.tools, lb.certificateInstalled, ...dependsOn(lb)],
                    hostId: lb.ready.hostId,
                },
                opts,
            ),
    );
    if (lbs.length !== 2) return { configs };
    if (!failover) throw new Error("two load balancers need failover settings (lb.failover: the API token and URL)");
    const pair = new LbFailover(
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
    return { configs, failover: pair };
}

const leName = (lbs: LoadBalancerHost[], i: number) => (i === 0 ? "lb" : lbs[i].hostName);
const onLb = (lb: LoadBalancerHost, domain: string) => ({ connection: lb.connection, domain, hostId: lb.droplet.id });

/** tlsMode letsencrypt: each LB gets its own certbot (lb's: lb-letsencrypt, lb-certbot; lb-1's: lb-1-...). */
export function lbLetsEncrypt(lbs: LoadBalancerHost[], domain: string, opts: pulumi.ComponentResourceOptions) {
    return lbs.map(
        (lb, i) =>
            new LetsEncrypt(
                `${leName(lbs, i)}-letsencrypt`,
                { ...onLb(lb, domain), selfSignedInstalled: lb.certificateInstalled },
                opts,
            ),
    );
}

/**
 * The certbot runs. HTTP-01 needs nginx's port-80 webroot on every LB (a challenge reaches the address's
 * holder, which asks the other LB for a token it does not hold), the address on an LB, and the name on it.
 */
export function lbCertbots(
    lbs: LoadBalancerHost[],
    tls: StackConfig["tls"],
    letsencrypts: LetsEncrypt[],
    after: { configs: LbConfig[]; failover?: LbFailover; dns?: SiteDns },
    opts: pulumi.ComponentResourceOptions,
): void {
    const reachable = [
        ...after.configs.map((c) => c.push),
        ...(after.failover?.configured ?? []),
        ...(after.dns ? [after.dns.record] : []),
    ];
    letsencrypts.forEach((le, i) =>
        certbot(tls, onLb(lbs[i], tls.domain!), [le.prepare, ...reachable], opts, `${leName(lbs, i)}-certbot`),
    );
}
