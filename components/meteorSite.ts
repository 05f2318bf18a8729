import * as pulumi from "@pulumi/pulumi";
import { lbAdminPort, lbTlsPaths, wireguardPort } from "../lib/layout";
import { AppServers } from "./appServers";
import { resolveNodeVersion } from "./bundleInfo";
import type { OpsSettings, StackConfig } from "./config";
import { liveRelease } from "./config/ops";
import { mongoUrls } from "./database";
import { RollingDeploy } from "./deploy";
import { DeployKey } from "./deployKey";
import { SiteDns } from "./dns";
import { buildAppEnv } from "./env";
import { lbCertbots, lbConfigs, lbHosts, lbLetsEncrypt } from "./loadBalancers";
import { Network } from "./network";
import { OperatorAccess, OpsOutput, opsOutput } from "./operators";
import { accountServices, managedDatabase } from "./siteServices";

/** The stack configuration's sections (components/config), as loadConfig returns them. */
export interface MeteorSiteArgs extends Pick<StackConfig, "placement" | "app" | "lb" | "tls" | "services"> {
    /**
     * Start of every name in the DigitalOcean account (VPC, tags, firewalls, droplets, SSH key, database,
     * project): unique per account, e.g. `<project>-<stack>`. Lowercase letters, digits and dashes.
     */
    namePrefix: string;
    /** Operator keys for `npm run ops`, and a rollback it recorded (none: no key, no rollback). */
    ops?: OpsSettings;
}

/**
 * A Meteor site on DigitalOcean: the VPC and firewalls, the deploy key, the load-balancer droplet with its
 * reserved IP, certificate and nginx configuration, the app droplets, the rolling deploy of `app.bundle`
 * (resolve a promotion first: promotion.ts resolveBundle; nodeVersion "auto" is read from the bundle here,
 * or before, with bundleInfo.ts resolveNodeVersion, to fail early), and the services the config turns on (Let's
 * Encrypt, DNS, a managed MongoDB, alerts, a DigitalOcean project).
 *
 * Its children keep the names index.ts gave them before this component existed (`lb`, `app`, `release`,
 * ...), and an alias to the top of the stack, where they were; so a stack deployed before sees no change,
 * and a program has one MeteorSite.
 */
export class MeteorSite extends pulumi.ComponentResource {
    /** https://<domain or reserved IP>/ */
    readonly url: pulumi.Output<string>;
    readonly lbReservedIp: pulumi.Output<string>;
    /** Every LB droplet: name, its own public address and private address (lbCount 2: two). */
    readonly loadBalancers: pulumi.Output<{ name: string; publicIp: string; privateIp: string }[]>;
    readonly appPrivateIps: pulumi.Output<string>[];
    /** The public half of the key the LB's Commands log in with (user `deploy`; app hosts have their own). */
    readonly deployPublicKey: pulumi.Output<string>;
    readonly vpcIpRange: pulumi.Output<string>;
    /** The release the app hosts run, known once every app host has cut over to it. */
    readonly deployedSha256: pulumi.Output<string>;
    /** Host names, addresses and cutover settings for `npm run ops`. */
    readonly ops: OpsOutput;

    constructor(name: string, args: MeteorSiteArgs, opts?: pulumi.ComponentResourceOptions) {
        checkArgs(args);
        super("meteor-do:index:MeteorSite", name, {}, opts);
        // Before MeteorSite, index.ts made these at the top of the stack: the alias keeps their URNs (and
        // their children's, which inherit it).
        const child = { parent: this, aliases: [{ parent: pulumi.rootStackResource }] };
        const { placement, app, lb: lbSettings, tls, services: svc, namePrefix: prefix } = args;

        const network = new Network(
            "net",
            {
                region: placement.region,
                ipRange: placement.vpcIpRange,
                namePrefix: prefix,
                appPort: app.port,
                lbAdminPort,
                adminCidrs: placement.adminCidrs,
                // DigitalOcean Uptime pings the LB droplet (alerts).
                allowPing: svc.alertEmails.length > 0,
                ...(lbSettings.count === 2 ? { lbPair: { wireguardPort } } : {}),
            },
            child,
        );
        // A deploy key per role: the LB's opens nothing on the app hosts, the app hosts' works only from the VPC.
        const key = new DeployKey("deploy", { keyName: `${prefix}-deploy` }, child);
        const appKey = new DeployKey("deploy-app", { keyName: `${prefix}-deploy-app` }, child);
        const common = {
            region: placement.region,
            vpcId: network.vpc.id,
            backups: placement.backups,
            monitoring: placement.monitoring,
        };

        const lbs = lbHosts(
            {
                ...common,
                ...key.dropletArgs(),
                count: lbSettings.count,
                size: lbSettings.size,
                tags: [network.lbTag.name],
                dropletNamePrefix: prefix,
                protectReservedIp: svc.protectStateful,
                tls,
            },
            child,
        );
        // lb (lb-0): the reserved IP's owner in the program, the app hosts' bastion.
        const lb = lbs[0];
        // Where app hosts drain and undrain themselves: every LB (one address with lbCount 1, as before).
        const lbPrivateIps = pulumi.all(lbs.map((l) => l.privateIp)).apply((ips) => ips.join(","));
        const apps = new AppServers(
            "app",
            {
                ...common,
                ...appKey.dropletArgs(),
                deployFrom: network.vpc.ipRange,
                count: app.count,
                removeHosts: app.removeHosts,
                size: app.size,
                tags: [network.appTag.name],
                dropletNamePrefix: `${prefix}-app`,
                nodeVersion:
                    app.nodeVersion === "auto"
                        ? pulumi.output(resolveNodeVersion(app.nodeVersion, app.bundle.path))
                        : app.nodeVersion,
                nodeDistUrl: app.nodeDistUrl,
                stopGraceSeconds: app.stopGraceSeconds,
                memoryMax: app.memoryMax,
                bastion: lb.connection,
                bastionTools: lb.ready.tools,
                bastionHostId: lb.ready.hostId,
                otherBastions: lbs.slice(1).map((o) => ({
                    name: o.hostName,
                    connection: o.connection,
                    tools: o.ready.tools,
                    hostId: o.ready.hostId,
                })),
                lbPrivateIp: lbPrivateIps,
                appPort: app.port,
                cutoverTimeoutSeconds: app.cutoverTimeoutSeconds,
            },
            child,
        );

        const serverName = tls.domain ?? lb.publicIp;
        const letsencrypts = tls.mode === "letsencrypt" ? lbLetsEncrypt(lbs, tls.domain!, child) : undefined;
        const letsencrypt = letsencrypts?.[0];
        const dns = svc.manageDns
            ? new SiteDns("dns", { domain: tls.domain!, zone: svc.dnsZone, ipAddress: lb.publicIp }, child)
            : undefined;

        const { configs, failover } = lbConfigs(
            {
                lbs,
                peers: apps.hosts.map((h) => h.privateIp),
                peerNames: apps.hosts.map((h) => h.droplet.name),
                appPort: app.port,
                vpcCidr: network.vpc.ipRange,
                serverName,
                healthCheck: lbSettings.healthCheck,
                stickiness: lbSettings.stickiness,
                trustedProxyCount: lbSettings.trustedProxyCount,
                realIpFrom: lbSettings.trustedProxyCidrs.length > 0 ? lbSettings.trustedProxyCidrs : undefined,
                adminCidrs: placement.adminCidrs,
                hstsMaxAge: tls.hstsMaxAge,
                limits: lbSettings.limits,
                // Let's Encrypt certificates carry no OCSP responder and the first start is self-signed: no stapling.
                tls: letsencrypt
                    ? { ...letsencrypt.tlsPaths, selfSigned: true }
                    : { ...lbTlsPaths, selfSigned: tls.mode === "self-signed" },
                dependsOn: (l) => (letsencrypts ? [letsencrypts[lbs.indexOf(l)].prepare] : []),
                failover: lbSettings.failover,
            },
            child,
        );
        if (letsencrypts) lbCertbots(lbs, tls, letsencrypts, { configs, failover, dns }, child);

        const db = svc.database === "managed" ? managedDatabase(args, network, apps, child) : undefined;

        this.url = pulumi.interpolate`https://${serverName}`;
        const deploy = new RollingDeploy(
            "release",
            {
                hosts: apps.hosts.map((h) => ({
                    name: h.name,
                    connection: h.connection,
                    privateIp: h.privateIp,
                    ready: h.runtime,
                    hostId: h.ready.hostId,
                })),
                lbPrivateIp: lbPrivateIps,
                lbReady: configs.map((c) => c.push),
                bundle: app.bundle,
                liveSha256: liveRelease(app.bundle.sha256, args.ops?.rollback),
                envFile: buildAppEnv(
                    {
                        appPort: app.port,
                        appEnv: app.env,
                        appEnvAllowUnsafe: app.envAllowUnsafe,
                        meteorSettings: app.meteorSettings,
                        oplogTooFarBehind: app.oplogTooFarBehind,
                        stopGraceSeconds: app.stopGraceSeconds,
                        trustedProxyCount: lbSettings.trustedProxyCount,
                        ...mongoUrls(args, db),
                    },
                    this.url,
                ),
                appPort: app.port,
                healthCheckPath: lbSettings.healthCheck.path,
                keepReleases: app.keepReleases,
                stopGraceSeconds: app.stopGraceSeconds,
                healthTimeoutSeconds: app.cutoverTimeoutSeconds,
                lbTimeoutSeconds: app.cutoverTimeoutSeconds,
                // Every app host has the same runtime: a new Node.js version or stop timeout rolls like a release.
                restartTriggers: apps.hosts[0].runtimeTriggers,
            },
            child,
        );

        accountServices(args, { network, lb, otherLbs: lbs.slice(1), apps, dns, db, url: this.url }, child);
        new OperatorAccess(
            "ops",
            { keys: args.ops?.operatorSshKeys ?? [], lb, otherLbs: lbs.slice(1), apps: apps.hosts },
            { parent: this },
        );

        this.lbReservedIp = lb.publicIp;
        this.loadBalancers = pulumi
            .all(lbs.map((l) => pulumi.all([l.droplet.name, l.dropletIp, l.privateIp])))
            .apply((all) => all.map(([name, publicIp, privateIp]) => ({ name, publicIp, privateIp })));
        this.appPrivateIps = apps.hosts.map((h) => h.privateIp);
        this.deployPublicKey = key.publicKeyOpenssh;
        this.vpcIpRange = network.vpc.ipRange;
        this.deployedSha256 = deploy.deployedSha256;
        this.ops = opsOutput({ lb, lbs, apps: apps.hosts, appPort: app.port, bundle: app.bundle, deploy });
        this.registerOutputs({
            url: this.url,
            lbReservedIp: this.lbReservedIp,
            loadBalancers: this.loadBalancers,
            appPrivateIps: this.appPrivateIps,
            deployPublicKey: this.deployPublicKey,
            vpcIpRange: this.vpcIpRange,
            deployedSha256: this.deployedSha256,
            ops: this.ops,
        });
    }
}

/** What the sections cannot say about each other once they are built by hand instead of by loadConfig. */
function checkArgs(args: MeteorSiteArgs): void {
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(args.namePrefix))
        throw new Error(
            `MeteorSite namePrefix must be lowercase letters, digits and dashes, got ${JSON.stringify(args.namePrefix)}`,
        );
    if ((args.tls.mode === "letsencrypt" || args.services.manageDns) && !args.tls.domain)
        throw new Error("MeteorSite tls.domain is required with tls.mode letsencrypt or services.manageDns");
    if (!/^(auto|[0-9]+\.[0-9]+\.[0-9]+)$/.test(args.app.nodeVersion))
        throw new Error(
            `MeteorSite app.nodeVersion must be auto or an exact version X.Y.Z, got ${JSON.stringify(args.app.nodeVersion)}`,
        );
    if (args.tls.mode === "letsencrypt" && !args.tls.letsencryptEmail)
        throw new Error("MeteorSite tls.letsencryptEmail is required with tls.mode letsencrypt");
}
