import * as pulumi from "@pulumi/pulumi";
import { AppServers } from "./components/appServers";
import { configWarnings, loadConfig } from "./components/config";
import { Release } from "./components/deploy";
import { DeployKey } from "./components/deployKey";
import { buildAppEnv } from "./components/env";
import { LbConfig } from "./components/lbConfig";
import { lbAdminPort, LoadBalancerHost, lbTlsPaths } from "./components/loadBalancer";
import { Network } from "./components/network";
import { releaseOutput, resolveRelease } from "./components/promotion";
import { SiteCertificate } from "./components/tls";

// config -> components -> outputs. The body is async only to read the promoted-from stack's release
// before anything is registered, so a missing or different release fails the preview.
export = async () => {
    const cfg = loadConfig();
    for (const warning of configWarnings(cfg)) pulumi.log.warn(warning);
    const release = await resolveRelease({ promoteFrom: cfg.promoteFrom, bundlePath: cfg.bundle.path, bundleSha256: cfg.bundle.sha256 });

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

    const lb = new LoadBalancerHost("lb", { ...common, size: cfg.lbSize, tags: [network.lbTag.name], dropletName: `${prefix}-lb` });
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
    const cert = new SiteCertificate("site", {
        mode: cfg.tlsMode,
        domain: cfg.domain,
        ipAddress: lb.publicIp,
        certificatePem: cfg.tlsCertificate,
        privateKeyPem: cfg.tlsPrivateKey,
    });
    const certInstalled = lb.installCertificate("lb-tls", cert.certificatePem, cert.privateKeyPem);

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
        adminCidrs: cfg.adminCidrs,
        tls: { ...lbTlsPaths, selfSigned: cert.selfSigned },
        dependsOn: [lb.ready.tools, certInstalled],
    });

    const siteUrl = pulumi.interpolate`https://${serverName}`;
    const deploy = new Release("release", {
        hosts: apps.hosts.map((h) => ({ name: h.name, connection: h.connection, privateIp: h.privateIp, ready: h.ready.tools })),
        lbPrivateIp: lb.privateIp,
        lbReady: lbConfig.push,
        bundle: { path: release.path, sha256: release.sha256 },
        envFile: buildAppEnv(cfg, siteUrl),
        appPort: cfg.appPort,
        healthCheckPath: cfg.healthCheck.path,
        keepReleases: cfg.keepReleases,
        stopGraceSeconds: cfg.stopGraceSeconds,
    });

    return {
        siteUrl,
        lbReservedIp: lb.publicIp,
        checkStatusUrl: pulumi.interpolate`${siteUrl}/check-status`,
        appPrivateIps: apps.hosts.map((h) => h.privateIp),
        deployPublicKey: key.publicKeyOpenssh,
        vpcIpRange: network.vpc.ipRange,
        release: releaseOutput({ path: release.path, sha256: release.sha256 }),
        deployedRelease: deploy.releaseId,
    };
};
