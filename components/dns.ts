import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";

export interface SiteDnsArgs {
    /** The site's name, e.g. app.example.com. */
    domain: string;
    /** The zone that holds the record: `domain` itself (the default) or a parent of it. */
    zone?: string;
    /** The load balancer's reserved IP: it survives a droplet replacement, so DNS never changes. */
    ipAddress: pulumi.Input<string>;
}

/** Seconds resolvers may cache the record: short enough to move the site within minutes if ever needed. */
export const dnsTtl = 300;

/** The record's name inside its zone: "@" for the apex, else the labels left of the zone. */
export function recordName(domain: string, zone: string): string {
    if (domain === zone) return "@";
    if (!domain.endsWith(`.${zone}`)) throw new Error(`SiteDns: ${domain} is not inside the zone ${zone}`);
    return domain.slice(0, -(zone.length + 1));
}

/**
 * The site's DNS at DigitalOcean (manageDns): the zone and an A record on the reserved IP. IPv6 (AAAA) is
 * out of scope: reserved IPs are IPv4, and the droplets run without public IPv6.
 */
export class SiteDns extends pulumi.ComponentResource {
    readonly zone: digitalocean.Domain;
    readonly record: digitalocean.DnsRecord;
    readonly fqdn: pulumi.Output<string>;

    constructor(name: string, args: SiteDnsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:dns:SiteDns", name, {}, opts);
        const zone = args.zone ?? args.domain;
        const record = recordName(args.domain, zone);
        this.zone = new digitalocean.Domain(`${name}-zone`, { name: zone }, { parent: this });
        this.record = new digitalocean.DnsRecord(
            `${name}-a`,
            {
                domain: this.zone.name,
                type: "A",
                name: record,
                value: args.ipAddress,
                ttl: dnsTtl,
            },
            { parent: this },
        );
        this.fqdn = this.record.fqdn;
        this.registerOutputs({ fqdn: this.fqdn });
    }
}
