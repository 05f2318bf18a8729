import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";

export interface NetworkArgs {
    region: string;
    /** Unset: DigitalOcean picks a free range, so stacks in one account never collide. */
    ipRange?: string;
    /** Prefix of the VPC and tag names (unique per account): project and stack. */
    namePrefix: string;
    appPort: number;
    /** The load balancer's admin API port (drain/undrain during a cutover), reachable by app hosts only. */
    lbAdminPort: number;
    /** CIDRs allowed to SSH to the load balancer; empty means any address (key-only). */
    adminCidrs: string[];
    /** Admit ICMP to the load balancer from anywhere (DigitalOcean Uptime's ping check). */
    allowPing?: boolean;
    /**
     * lbCount 2: the LBs' WireGuard tunnel (VRRP inside it: Cloud Firewalls pass no VRRP) and their admin
     * ports, from each other only.
     */
    lbPair?: { wireguardPort: number };
}

const anywhere = ["0.0.0.0/0", "::/0"];
const outboundAll: digitalocean.types.input.FirewallOutboundRule[] = [
    { protocol: "tcp", portRange: "1-65535", destinationAddresses: anywhere },
    { protocol: "udp", portRange: "1-65535", destinationAddresses: anywhere },
    { protocol: "icmp", destinationAddresses: anywhere },
];

/**
 * The private network and who may talk to whom: the VPC, one tag per role, and a Cloud Firewall per
 * role. App droplets accept the app port and SSH only from the load balancer; the load balancer accepts
 * 80/443 from anywhere, SSH from adminCidrs, its admin port from app droplets, pings when allowPing, and with two
 * LBs WireGuard and the admin port from each other. Outbound is open
 * (packages, Node.js downloads, MongoDB).
 */
export class Network extends pulumi.ComponentResource {
    readonly vpc: digitalocean.Vpc;
    readonly appTag: digitalocean.Tag;
    readonly lbTag: digitalocean.Tag;
    readonly appFirewall: digitalocean.Firewall;
    readonly lbFirewall: digitalocean.Firewall;

    constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:network:Network", name, {}, opts);
        const parent = { parent: this };
        this.vpc = new digitalocean.Vpc(
            `${name}-vpc`,
            {
                name: `${args.namePrefix}-vpc`,
                region: args.region,
                ...(args.ipRange ? { ipRange: args.ipRange } : {}),
            },
            parent,
        );
        this.appTag = new digitalocean.Tag(`${name}-app-tag`, { name: `${args.namePrefix}-app` }, parent);
        this.lbTag = new digitalocean.Tag(`${name}-lb-tag`, { name: `${args.namePrefix}-lb` }, parent);

        const fromLb = { sourceTags: [this.lbTag.name] };
        this.appFirewall = new digitalocean.Firewall(
            `${name}-app-fw`,
            {
                name: `${args.namePrefix}-app`,
                tags: [this.appTag.name],
                inboundRules: [
                    { protocol: "tcp", portRange: String(args.appPort), ...fromLb },
                    { protocol: "tcp", portRange: "22", ...fromLb },
                ],
                outboundRules: outboundAll,
            },
            parent,
        );

        const sshSources = args.adminCidrs.length > 0 ? args.adminCidrs : anywhere;
        this.lbFirewall = new digitalocean.Firewall(
            `${name}-lb-fw`,
            {
                name: `${args.namePrefix}-lb`,
                tags: [this.lbTag.name],
                inboundRules: [
                    { protocol: "tcp", portRange: "80", sourceAddresses: anywhere },
                    { protocol: "tcp", portRange: "443", sourceAddresses: anywhere },
                    { protocol: "tcp", portRange: "22", sourceAddresses: sshSources },
                    { protocol: "tcp", portRange: String(args.lbAdminPort), sourceTags: [this.appTag.name] },
                    ...(args.allowPing ? [{ protocol: "icmp", sourceAddresses: anywhere }] : []),
                    ...(args.lbPair
                        ? [
                              {
                                  protocol: "udp",
                                  portRange: String(args.lbPair.wireguardPort),
                                  sourceTags: [this.lbTag.name],
                              },
                              { protocol: "tcp", portRange: String(args.lbAdminPort), sourceTags: [this.lbTag.name] },
                          ]
                        : []),
                ],
                outboundRules: outboundAll,
            },
            parent,
        );

        this.registerOutputs({ vpcId: this.vpc.id, vpcIpRange: this.vpc.ipRange });
    }
}
