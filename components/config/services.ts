import { isDomainName, rules } from "../../lib/validate";
import { AppConfig } from "./app";
import { PlacementConfig } from "./placement";
import { matches, Reader } from "./reader";
import { TlsSettings } from "./tls";
import { intRule } from "../../lib/validate";

export type DatabaseMode = "managed" | "external";
export type AlertWindow = "5m" | "10m" | "30m" | "1h";
export type ProjectEnvironment = "Development" | "Staging" | "Production";

/** Production services: components/{dns,database,alerts,project}.ts. */
export interface ServicesConfig {
    /** Create the DigitalOcean DNS zone and the site's A record on the reserved IP. */
    manageDns: boolean;
    /** The zone (digitalocean.Domain) holding the record: the domain itself or a parent of it. */
    dnsZone?: string;
    database: DatabaseMode;
    databaseSize: string;
    databaseNodeCount: number;
    databaseVersion: string;
    databaseName: string;
    databaseOplog: boolean;
    /** Pulumi `protect` on the managed database (cluster and database) and the reserved IP. */
    protectStateful: boolean;
    alertEmails: string[];
    alertCpuPercent: number;
    alertMemoryPercent: number;
    alertDiskPercent: number;
    alertWindow: AlertWindow;
    projectEnvironment?: ProjectEnvironment;
}

const nodeCount = intRule(1, 3, "must be 1 or 3 (a MongoDB cluster is one node or a three-node replica set)");
const percent = intRule(1, 100, "must be an integer percentage from 1 to 100");

/** Reads the services; the domain, the metrics agent and the app's own Mongo URLs are checked against them. */
export function readServices(
    r: Reader,
    tls: Pick<TlsSettings, "domain">,
    placement: Pick<PlacementConfig, "monitoring">,
    app: Pick<AppConfig, "mongoUrl" | "mongoOplogUrl">,
): ServicesConfig {
    const { domain } = tls;
    const manageDns = r.bool("manageDns");
    const dnsZone = r.text("dnsZone");
    if (manageDns && domain === undefined)
        r.problem(
            `${r.key("manageDns")} is true but ${r.key("domain")} is unset: set the domain whose A record points at the reserved IP`,
        );
    if (dnsZone !== undefined && !isDomainName(dnsZone)) {
        r.bad("dnsZone", dnsZone, "must be a domain name such as example.com");
    } else if (dnsZone !== undefined && domain !== undefined && domain !== dnsZone && !domain.endsWith(`.${dnsZone}`)) {
        r.bad("dnsZone", dnsZone, `must be ${domain} or a parent domain of it`);
    }
    const database = r.oneOf<DatabaseMode>("database", ["managed", "external"]);
    const databaseSize = r.checked(
        "databaseSize",
        matches(/^db-[a-z0-9-]*[a-z0-9]$/, "must be a DigitalOcean database size slug such as db-s-1vcpu-1gb"),
    );
    const databaseNodeCount = r.int("databaseNodeCount", nodeCount);
    if (databaseNodeCount === 2) r.bad("databaseNodeCount", "2", nodeCount.allowed);
    const databaseVersion = r.checked(
        "databaseVersion",
        matches(/^[0-9]+$/, "must be a MongoDB major version such as 7"),
    );
    const databaseName = r.checked(
        "databaseName",
        matches(/^[A-Za-z0-9_-]{1,63}$/, "must be 1 to 63 letters, digits, _ or -"),
    );
    const databaseOplog = r.bool("databaseOplog");
    const protectStateful = r.bool("protectStateful");
    if (database === "managed") {
        for (const key of ["mongoUrl", "mongoOplogUrl"] as const) {
            if (app[key] !== undefined)
                r.problem(
                    `${r.key(key)} is set but ${r.key("database")} is managed: the program builds the URL from the cluster; unset it or set database to external`,
                );
        }
    }
    const alertEmails = r.list("alertEmails", { ok: rules.email.ok, allowed: "each entry must be an e-mail address" });
    if (alertEmails.length > 0 && !placement.monitoring)
        r.problem(
            `${r.key("alertEmails")} is set but ${r.key("monitoring")} is false: memory and disk alerts need the metrics agent; set monitoring to true`,
        );
    const alertCpuPercent = r.int("alertCpuPercent", percent);
    const alertMemoryPercent = r.int("alertMemoryPercent", percent);
    const alertDiskPercent = r.int("alertDiskPercent", percent);
    const alertWindow = r.oneOf<AlertWindow>("alertWindow", ["5m", "10m", "30m", "1h"]);
    const projectEnvironment =
        r.text("projectEnvironment") === undefined
            ? undefined
            : r.oneOf<ProjectEnvironment>("projectEnvironment", ["Development", "Staging", "Production"]);
    return {
        manageDns,
        dnsZone,
        database,
        databaseSize,
        databaseNodeCount,
        databaseVersion,
        databaseName,
        databaseOplog,
        protectStateful,
        alertEmails,
        alertCpuPercent,
        alertMemoryPercent,
        alertDiskPercent,
        alertWindow,
        projectEnvironment,
    };
}
