import * as pulumi from "@pulumi/pulumi";
import { Alerts } from "./components/alerts";
import { AppServers } from "./components/appServers";
import { configWarnings, loadConfig } from "./components/config";
import { ManagedDatabase, mongoUrls } from "./components/database";
import { RollingDeploy } from "./components/deploy";
import { DeployKey } from "./components/deployKey";
import { SiteDns } from "./components/dns";
import { buildAppEnv } from "./components/env";
import { LbConfig } from "./components/lbConfig";
import { LetsEncrypt, LetsEncryptIssuance } from "./components/letsencrypt";
import { LoadBalancerHost } from "./components/loadBalancer";
import { Network } from "./components/network";
import { StackProject } from "./components/project";
import { bundleOutput, resolveBundle } from "./components/promotion";
import { SiteCertificate } from "./components/tls";
import { lbAdminPort, lbTlsPaths } from "./lib/layout";

// config -> components -> outputs. The body is async only to read the promoted-from stack's bundle
// before anything is registered, so a missing or different bundle fails the preview.
export = async () => {
    const cfg = loadConfig();
    for (const warning of configWarnings(cfg)) pulumi.log.warn(warning);
    const bundle = await resolveBundle({ promoteFrom: cfg.app.promoteFrom, bundle: cfg.app.bundle });

    // Names in the DigitalOcean account (unique per account) carry the stack.
    const prefix = `${cfg.project}-${cfg.stack}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-");

    const network = new Network("net", {
        region: cfg.placement.region,
        ipRange: cfg.placement.vpcIpRange,
        namePrefix: prefix,
        appPort: cfg.app.port,
        lbAdminPort,
        adminCidrs: cfg.placement.adminCidrs,
    });
    const key = new DeployKey("deploy", { keyName: `${prefix}-deploy` });
    const common = {
        region: cfg.placement.region,
        vpcId: network.vpc.id,
        sshKeyFingerprints: [key.fingerprint],
        deployPublicKey: key.publicKeyOpenssh,
        deployPrivateKey: key.privateKeyOpenssh,
        backups: cfg.placement.backups,
        monitoring: cfg.placement.monitoring,
    };

    const lb = new LoadBalancerHost("lb", {
        ...common,
        size: cfg.lb.size,
        tags: [network.lbTag.name],
        dropletName: `${prefix}-lb`,
        // letsencrypt: nginx serves a self-signed pair until certbot has issued, so it always starts.
        certificate: (publicIp) =>
            new SiteCertificate("site", {
                mode: cfg.tls.mode === "letsencrypt" ? "self-signed" : cfg.tls.mode,
                domain: cfg.tls.domain,
                ipAddress: publicIp,
                certificatePem: cfg.tls.certificate,
                privateKeyPem: cfg.tls.privateKey,
            }),
    });
    const apps = new AppServers("app", {
        ...common,
        count: cfg.app.count,
        size: cfg.app.size,
        tags: [network.appTag.name],
        dropletNamePrefix: `${prefix}-app`,
        nodeVersion: cfg.app.nodeVersion,
        nodeDistUrl: cfg.app.nodeDistUrl,
        stopGraceSeconds: cfg.app.stopGraceSeconds,
        bastion: lb.connection,
        bastionReady: lb.ready.cloudInit,
    });

    const serverName = cfg.tls.domain ?? lb.publicIp;
    const svc = cfg.services;
    const letsencrypt =
        cfg.tls.mode === "letsencrypt"
            ? new LetsEncrypt("lb-letsencrypt", {
                  connection: lb.connection,
                  domain: cfg.tls.domain!,
                  hostId: lb.droplet.id,
                  selfSignedInstalled: lb.certificateInstalled,
              })
            : undefined;
    const dns = svc.manageDns
        ? new SiteDns("dns", { domain: cfg.tls.domain!, zone: svc.dnsZone, ipAddress: lb.publicIp })
        : undefined;

    const lbConfig = new LbConfig("lb-config", {
        connection: lb.connection,
        peers: apps.hosts.map((h) => h.privateIp),
        appPort: cfg.app.port,
        lbPrivateIp: lb.privateIp,
        vpcCidr: network.vpc.ipRange,
        serverName,
        healthCheck: cfg.lb.healthCheck,
        stickiness: cfg.lb.stickiness,
        trustedProxyCount: cfg.lb.trustedProxyCount,
        realIpFrom: cfg.lb.trustedProxyCidrs.length > 0 ? cfg.lb.trustedProxyCidrs : undefined,
        adminCidrs: cfg.placement.adminCidrs,
        // Let's Encrypt certificates carry no OCSP responder and the first start is self-signed: no stapling.
        tls: letsencrypt
            ? { ...letsencrypt.tlsPaths, selfSigned: true }
            : { ...lbTlsPaths, selfSigned: cfg.tls.mode === "self-signed" },
        dependsOn: [lb.ready.tools, lb.certificateInstalled, ...(letsencrypt ? [letsencrypt.prepare] : [])],
        hostId: lb.ready.hostId,
    });
    if (letsencrypt) {
        new LetsEncryptIssuance("lb-certbot", {
            connection: lb.connection,
            domain: cfg.tls.domain!,
            email: cfg.tls.letsencryptEmail!,
            server: cfg.tls.letsencryptServer,
            hostId: lb.droplet.id,
            // HTTP-01 needs nginx's port-80 webroot and the name resolving to the reserved IP.
            after: [letsencrypt.prepare, lbConfig.push, ...(dns ? [dns.record] : [])],
            // Before it had a component of its own, the certbot Command was LetsEncrypt's child.
            commandAliases: [{ name: "lb-letsencrypt-issue", parent: letsencrypt }],
        });
    }

    const db =
        svc.database === "managed"
            ? new ManagedDatabase("db", {
                  clusterName: `${prefix}-mongodb`,
                  region: cfg.placement.region,
                  vpcId: network.vpc.id,
                  appTag: network.appTag.name,
                  size: svc.databaseSize,
                  nodeCount: svc.databaseNodeCount,
                  version: svc.databaseVersion,
                  databaseName: svc.databaseName,
                  oplog: svc.databaseOplog,
                  hosts: apps.hosts.map((h) => ({
                      name: h.name,
                      connection: h.connection,
                      ready: h.ready.tools,
                      hostId: h.ready.hostId,
                  })),
              })
            : undefined;

    const siteUrl = pulumi.interpolate`https://${serverName}`;
    const deploy = new RollingDeploy("release", {
        hosts: apps.hosts.map((h) => ({
            name: h.name,
            connection: h.connection,
            privateIp: h.privateIp,
            ready: h.runtime,
            hostId: h.ready.hostId,
        })),
        lbPrivateIp: lb.privateIp,
        lbReady: lbConfig.push,
        bundle,
        envFile: buildAppEnv(
            {
                appPort: cfg.app.port,
                appEnv: cfg.app.env,
                meteorSettings: cfg.app.meteorSettings,
                oplogTooFarBehind: cfg.app.oplogTooFarBehind,
                stopGraceSeconds: cfg.app.stopGraceSeconds,
                trustedProxyCount: cfg.lb.trustedProxyCount,
                ...mongoUrls(cfg, db),
            },
            siteUrl,
        ),
        appPort: cfg.app.port,
        healthCheckPath: cfg.lb.healthCheck.path,
        keepReleases: cfg.app.keepReleases,
        stopGraceSeconds: cfg.app.stopGraceSeconds,
        healthTimeoutSeconds: cfg.app.cutoverTimeoutSeconds,
        lbTimeoutSeconds: cfg.app.cutoverTimeoutSeconds,
        // Every app host has the same runtime: a new Node.js version or stop timeout rolls like a release.
        restartTriggers: apps.hosts[0].runtimeTriggers,
    });

    if (svc.alertEmails.length > 0) {
        new Alerts("alerts", {
            emails: svc.alertEmails,
            label: prefix,
            appTag: network.appTag.name,
            lbDropletId: lb.droplet.id,
            databaseClusterId: db?.cluster.id,
            cpuPercent: svc.alertCpuPercent,
            memoryPercent: svc.alertMemoryPercent,
            diskPercent: svc.alertDiskPercent,
            window: svc.alertWindow,
        });
    }
    // DigitalOcean URNs (not Pulumi's) of everything a DigitalOcean project can hold.
    new StackProject("project", {
        projectName: prefix,
        environment: svc.projectEnvironment,
        resources: [
            lb.droplet.dropletUrn,
            lb.reservedIp.reservedIpUrn,
            ...apps.hosts.map((h) => h.droplet.dropletUrn),
            ...(dns ? [dns.zone.domainUrn] : []),
            ...(db ? [db.cluster.clusterUrn] : []),
        ],
    });

    return {
        siteUrl,
        lbReservedIp: lb.publicIp,
        checkStatusUrl: pulumi.interpolate`${siteUrl}/check-status`,
        appPrivateIps: apps.hosts.map((h) => h.privateIp),
        deployPublicKey: key.publicKeyOpenssh,
        vpcIpRange: network.vpc.ipRange,
        release: bundleOutput(bundle),
        deployedRelease: deploy.deployedSha256,
    };
};
