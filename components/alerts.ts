import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import { AlertWindow } from "./config";

export interface AlertsArgs {
    /** Recipients: verified members of the DigitalOcean team. */
    emails: string[];
    /** Prefix of every alert's description: project and stack. */
    label: string;
    /** The app droplets' tag: droplets added later are covered without a change here. */
    appTag: pulumi.Input<string>;
    /** The load balancer droplets' ids (two with lbCount 2: the standby's CPU, memory and disk count too). */
    lbDropletIds: pulumi.Input<string>[];
    /**
     * lbCount 2: each LB droplet's own address, pinged too (the reserved-IP ping sees only the active one, so
     * a dead standby would go unnoticed until the next failover).
     */
    lbDroplets?: { name: string; ip: pulumi.Input<string> }[];
    /** The managed MongoDB cluster's id, when there is one. */
    databaseClusterId?: pulumi.Input<string>;
    /** https://<domain or reserved IP>: DigitalOcean Uptime checks it from outside, with its certificate. */
    siteUrl: pulumi.Input<string>;
    /** The reserved IP: pinged from outside, so the LB droplet being down is told apart from the site failing. */
    lbPublicIp: pulumi.Input<string>;
    cpuPercent: number;
    memoryPercent: number;
    diskPercent: number;
    window: AlertWindow;
}

/** DigitalOcean's metric names (MonitorAlert `type`) per target kind. */
export const alertTypes = {
    droplet: {
        cpu: "v1/insights/droplet/cpu",
        memory: "v1/insights/droplet/memory_utilization_percent",
        disk: "v1/insights/droplet/disk_utilization_percent",
    },
    database: {
        cpu: "v1/dbaas/alerts/cpu_alerts",
        memory: "v1/dbaas/alerts/memory_utilization_alerts",
        disk: "v1/dbaas/alerts/disk_utilization_alerts",
    },
} as const;

/** Every region DigitalOcean Uptime probes from: `down` fires when any of them fails. */
export const uptimeRegions = ["us_east", "us_west", "eu_west", "se_asia"];
/** How long a check must fail before `down` fires (Uptime's shortest period; a deploy never fails it). */
export const uptimeDownPeriod = "2m";
/**
 * Days before expiry at which the certificate alert fires: Let's Encrypt renews 30 days ahead and the first
 * `pulumi up` in a self-signed certificate's last 30 days renews it (components/tls.ts).
 */
export const certificateAlertDays = 14;

type Metric = keyof typeof alertTypes.droplet;
const metricNames: Record<Metric, string> = { cpu: "CPU", memory: "memory", disk: "disk" };

/**
 * Alerts by e-mail. DigitalOcean Monitoring: CPU, memory and disk of the app droplets (by tag), the load
 * balancer and the managed database (memory and disk come from the metrics agent, monitoring: true).
 * DigitalOcean Uptime, from outside: the site down or its certificate close to expiry, and the LB
 * droplet not answering pings (the LB firewall admits ICMP when alerts are on).
 */
export class Alerts extends pulumi.ComponentResource {
    readonly alerts: digitalocean.MonitorAlert[] = [];
    readonly uptimeChecks: digitalocean.UptimeCheck[] = [];
    readonly uptimeAlerts: digitalocean.UptimeAlert[] = [];

    constructor(name: string, args: AlertsArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:alerts:Alerts", name, {}, opts);
        if (args.emails.length === 0) throw new Error("Alerts: emails must name at least one recipient");
        const threshold: Record<Metric, number> = {
            cpu: args.cpuPercent,
            memory: args.memoryPercent,
            disk: args.diskPercent,
        };
        const targets: {
            key: string;
            what: string;
            kind: keyof typeof alertTypes;
            where: { tags?: pulumi.Input<string>[]; entities?: pulumi.Input<string>[] };
        }[] = [
            { key: "app", what: "app droplets", kind: "droplet", where: { tags: [args.appTag] } },
            { key: "lb", what: "load balancer", kind: "droplet", where: { entities: args.lbDropletIds } },
        ];
        if (args.databaseClusterId !== undefined) {
            targets.push({
                key: "db",
                what: "MongoDB cluster",
                kind: "database",
                where: { entities: [args.databaseClusterId] },
            });
        }
        for (const t of targets) {
            for (const metric of ["cpu", "memory", "disk"] as Metric[]) {
                this.alerts.push(
                    new digitalocean.MonitorAlert(
                        `${name}-${t.key}-${metric}`,
                        {
                            alerts: { emails: args.emails },
                            description: `${args.label} ${t.what}: ${metricNames[metric]} above ${threshold[metric]}% for ${args.window}`,
                            type: alertTypes[t.kind][metric],
                            compare: "GreaterThan",
                            value: threshold[metric],
                            window: args.window,
                            enabled: true,
                            ...t.where,
                        },
                        { parent: this },
                    ),
                );
            }
        }
        this.uptime(name, args);
        this.registerOutputs({ count: this.alerts.length + this.uptimeAlerts.length });
    }

    private uptime(name: string, args: AlertsArgs): void {
        const parent = { parent: this };
        const notifications = [{ emails: args.emails }];
        const check = (key: string, what: string, type: "https" | "ping", target: pulumi.Input<string>) => {
            const c = new digitalocean.UptimeCheck(
                `${name}-${key}`,
                { name: `${args.label} ${what}`, type, target, regions: uptimeRegions, enabled: true },
                parent,
            );
            this.uptimeChecks.push(c);
            return c;
        };
        const alert = (
            key: string,
            check: digitalocean.UptimeCheck,
            what: string,
            more: Pick<digitalocean.UptimeAlertArgs, "type" | "period" | "comparison" | "threshold">,
        ) => {
            this.uptimeAlerts.push(
                new digitalocean.UptimeAlert(
                    `${name}-${key}`,
                    { checkId: check.id, name: `${args.label} ${what}`, notifications, ...more },
                    parent,
                ),
            );
        };
        const site = check("site", "site", "https", args.siteUrl);
        alert("site-down", site, "site down", { type: "down", period: uptimeDownPeriod });
        alert("site-certificate", site, `certificate expires within ${certificateAlertDays} days`, {
            type: "ssl_expiry",
            comparison: "less_than",
            threshold: certificateAlertDays,
            period: uptimeDownPeriod,
        });
        const lb = check("lb-ping", "load balancer droplet", "ping", args.lbPublicIp);
        alert("lb-down", lb, "load balancer droplet down", { type: "down", period: uptimeDownPeriod });
        for (const d of args.lbDroplets ?? []) {
            const own = check(`${d.name}-droplet-ping`, `load balancer ${d.name}`, "ping", d.ip);
            alert(`${d.name}-droplet-down`, own, `load balancer ${d.name} down`, {
                type: "down",
                period: uptimeDownPeriod,
            });
        }
    }
}
