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
import { lbAdminPort, LoadBalancerHost, lbTlsPaths } from "./components/loadBalancer";
import { Network } from "./components/network";
import { StackProject } from "./components/project";
import { bundleOutput, resolveBundle } from "./components/promotion";
import { SiteCertificate } from "./components/tls";

// config -> components -> outputs. The body is async only to read the promoted-from stack's bundle
// before anything is registered, so a missing or different bundle fails the preview.
export = async () => {
    const cfg = loadConfig();
    for (const warning of configWarnings(cfg)) pulumi.log.warn(warning);
    const bundle = await resolveBundle({ promoteFrom: cfg.promoteFrom, bundle: cfg.bundle });

    // Names in the DigitalOcean account (unique per account) carry the stack.
    const prefix = `${cfg.project}-${cfg.stack}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-");

    const network = new Network("net", {
        region: cfg.region,
        ipRange: cfg.vpcIpRange,
        namePrefix: prefix,
        appPort: cfg.appPort,
        lbAdminPort,
        adminCidrs: cfg.adminCidrs,
    });
    const key = new DeployKey("deploy", { keyName: `${prefix}-deploy` });
    const common = {
        region: cfg.region,
        vpcId: network.vpc.id,
        sshKeyFingerprints: [key.fingerprint],
        deployPublicKey: key.publicKeyOpenssh,
        deployPrivateKey: key.privateKeyOpenssh,
        backups: cfg.backups,
        monitoring: cfg.monitoring,
    };

    const lb = new LoadBalancerHost("lb", {
        ...common,
        size: cfg.lbSize,
        tags: [network.lbTag.name],
        dropletName: `${prefix}-lb`,
        // letsencrypt: nginx serves a self-signed pair until certbot has issued, so it always starts.
        certificate: (publicIp) =>
            new SiteCertificate("site", {
                mode: cfg.tlsMode === "letsencrypt" ? "self-signed" : cfg.tlsMode,
                domain: cfg.domain,
                ipAddress: publicIp,
                certificatePem: cfg.tlsCertificate,
                privateKeyPem: cfg.tlsPrivateKey,
            }),
    });
    const apps = new AppServers("app", {
        ...common,
        count: cfg.appCount,
        size: cfg.appSize,
        tags: [network.appTag.name],
        dropletNamePrefix: `${prefix}-app`,
        nodeVersion: cfg.nodeVersion,
        nodeDistUrl: cfg.nodeDistUrl,
        stopGraceSeconds: cfg.stopGraceSeconds,
        bastion: lb.connection,
        bastionReady: lb.ready.cloudInit,
    });

    const serverName = cfg.domain ?? lb.publicIp;
    const svc = cfg.services;
    const letsencrypt =
        cfg.tlsMode === "letsencrypt"
            ? new LetsEncrypt("lb-letsencrypt", {
                  connection: lb.connection,
                  domain: cfg.domain!,
                  hostId: lb.droplet.id,
                  selfSignedInstalled: lb.certificateInstalled,
              })
            : undefined;
    const dns = svc.manageDns
        ? new SiteDns("dns", { domain: cfg.domain!, zone: svc.dnsZone, ipAddress: lb.publicIp })
        : undefined;

    const lbConfig = new LbConfig("lb-config", {
        connection: lb.connection,
        peers: apps.hosts.map((h) => h.privateIp),
        appPort: cfg.appPort,
        lbPrivateIp: lb.privateIp,
        vpcCidr: network.vpc.ipRange,
        serverName,
        healthCheck: cfg.healthCheck,
        stickiness: cfg.stickiness,
        trustedProxyCount: cfg.trustedProxyCount,
        realIpFrom: cfg.trustedProxyCidrs.length > 0 ? cfg.trustedProxyCidrs : undefined,
        adminCidrs: cfg.adminCidrs,
        // Let's Encrypt certificates carry no OCSP responder and the first start is self-signed: no stapling.
        tls: letsencrypt
            ? { ...letsencrypt.tlsPaths, selfSigned: true }
            : { ...lbTlsPaths, selfSigned: cfg.tlsMode === "self-signed" },
        dependsOn: [lb.ready.tools, lb.certificateInstalled, ...(letsencrypt ? [letsencrypt.prepare] : [])],
        hostId: lb.ready.hostId,
    });
    if (letsencrypt) {
        new LetsEncryptIssuance("lb-certbot", {
            connection: lb.connection,
            domain: cfg.domain!,
            email: cfg.letsencryptEmail!,
            server: svc.letsencryptServer,
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
                  region: cfg.region,
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
        envFile: buildAppEnv({ ...cfg, ...mongoUrls(cfg, db) }, siteUrl),
        appPort: cfg.appPort,
        healthCheckPath: cfg.healthCheck.path,
        keepReleases: cfg.keepReleases,
        stopGraceSeconds: cfg.stopGraceSeconds,
        healthTimeoutSeconds: cfg.cutoverTimeoutSeconds,
        lbTimeoutSeconds: cfg.cutoverTimeoutSeconds,
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
