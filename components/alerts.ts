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
    /** The load balancer droplet's id. */
    lbDropletId: pulumi.Input<string>;
    /** The managed MongoDB cluster's id, when there is one. */
    databaseClusterId?: pulumi.Input<string>;
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

type Metric = keyof typeof alertTypes.droplet;
const metricNames: Record<Metric, string> = { cpu: "CPU", memory: "memory", disk: "disk" };

/**
 * CPU, memory and disk alerts (DigitalOcean Monitoring, by e-mail) on the app droplets (by tag), the
 * load balancer and the managed database. Memory and disk come from the metrics agent (monitoring: true).
 */
export class Alerts extends pulumi.ComponentResource {
    readonly alerts: digitalocean.MonitorAlert[] = [];

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
            { key: "lb", what: "load balancer", kind: "droplet", where: { entities: [args.lbDropletId] } },
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
        this.registerOutputs({ count: this.alerts.length });
    }
}
