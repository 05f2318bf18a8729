// The services MeteorSite adds around its hosts when the config turns them on: certbot, a managed
// MongoDB, monitoring alerts and a DigitalOcean project. Each is made with MeteorSite's child options.
import * as pulumi from "@pulumi/pulumi";
import { Alerts } from "./alerts";
import { AppServers } from "./appServers";
import type { StackConfig } from "./config";
import { ManagedDatabase } from "./database";
import { SiteDns } from "./dns";
import { LetsEncryptIssuance } from "./letsencrypt";
import { LoadBalancerHost } from "./loadBalancer";
import { Network } from "./network";
import { StackProject } from "./project";

type Sections = Pick<StackConfig, "placement" | "services"> & { namePrefix: string };
type Opts = pulumi.ComponentResourceOptions;

/** tls.mode letsencrypt: the certbot run, after `after` (LetsEncrypt's prepare, the nginx push, DNS). */
export function certbot(
    tls: StackConfig["tls"],
    lb: { connection: LoadBalancerHost["connection"]; domain: string; hostId: pulumi.Input<string> },
    after: pulumi.Resource[],
    opts: Opts,
    name = "lb-certbot",
): LetsEncryptIssuance {
    return new LetsEncryptIssuance(
        name,
        {
            ...lb,
            email: tls.letsencryptEmail!,
            server: tls.letsencryptServer,
            after,
            // The certbot Command was LetsEncrypt's child, `lb-letsencrypt-issue`, when index.ts made
            // LetsEncrypt at the top of the stack.
            commandAliases:
                name !== "lb-certbot"
                    ? []
                    : [
                          pulumi.createUrn(
                              "lb-letsencrypt-issue",
                              "command:remote:Command",
                              pulumi.createUrn("lb-letsencrypt", "meteor-do:tls:LetsEncrypt"),
                          ),
                      ],
        },
        opts,
    );
}

/** services.database managed: the cluster in the VPC, and its CA on every app host. */
export function managedDatabase(args: Sections, network: Network, apps: AppServers, opts: Opts): ManagedDatabase {
    const svc = args.services;
    return new ManagedDatabase(
        "db",
        {
            clusterName: `${args.namePrefix}-mongodb`,
            region: args.placement.region,
            vpcId: network.vpc.id,
            appTag: network.appTag.name,
            size: svc.databaseSize,
            nodeCount: svc.databaseNodeCount,
            version: svc.databaseVersion,
            databaseName: svc.databaseName,
            oplog: svc.databaseOplog,
            protect: svc.protectStateful,
            hosts: apps.hosts.map((h) => ({
                name: h.name,
                connection: h.connection,
                ready: h.ready.tools,
                hostId: h.ready.hostId,
            })),
        },
        opts,
    );
}

/** What the account services refer to: MeteorSite's parts and its URL. */
export interface SiteParts {
    network: Network;
    lb: LoadBalancerHost;
    /** lbCount 2: lb-1 (in the project too). */
    otherLbs?: LoadBalancerHost[];
    apps: AppServers;
    dns?: SiteDns;
    db?: ManagedDatabase;
    /** https://<domain or reserved IP> (Uptime checks it). */
    url: pulumi.Input<string>;
}

/** Alerts (when services.alertEmails lists someone) and the DigitalOcean project holding the site. */
export function accountServices(args: Sections, site: SiteParts, opts: Opts): void {
    const { network, lb, apps, dns, db } = site;
    const svc = args.services;
    if (svc.alertEmails.length > 0) {
        new Alerts(
            "alerts",
            {
                emails: svc.alertEmails,
                label: args.namePrefix,
                appTag: network.appTag.name,
                lbDropletIds: [lb, ...(site.otherLbs ?? [])].map((l) => l.droplet.id),
                ...(site.otherLbs?.length
                    ? { lbDroplets: [lb, ...site.otherLbs].map((l) => ({ name: l.hostName, ip: l.dropletIp })) }
                    : {}),
                databaseClusterId: db?.cluster.id,
                siteUrl: site.url,
                lbPublicIp: lb.publicIp,
                cpuPercent: svc.alertCpuPercent,
                memoryPercent: svc.alertMemoryPercent,
                diskPercent: svc.alertDiskPercent,
                window: svc.alertWindow,
            },
            opts,
        );
    }
    // DigitalOcean URNs (not Pulumi's) of everything a DigitalOcean project can hold.
    new StackProject(
        "project",
        {
            projectName: args.namePrefix,
            environment: svc.projectEnvironment,
            resources: [
                lb.droplet.dropletUrn,
                lb.reservedIp.reservedIpUrn,
                ...(site.otherLbs ?? []).map((l) => l.droplet.dropletUrn),
                ...apps.hosts.map((h) => h.droplet.dropletUrn),
                ...(dns ? [dns.zone.domainUrn] : []),
                ...(db ? [db.cluster.clusterUrn] : []),
            ],
        },
        opts,
    );
}
