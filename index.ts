import * as pulumi from "@pulumi/pulumi";
import { resolveNodeVersion } from "./components/bundleInfo";
import { configWarnings, loadConfig } from "./components/config";
import { rollbackWarning } from "./components/config/ops";
import { MeteorSite } from "./components/meteorSite";
import { bundleOutput, resolveBundle } from "./components/promotion";

// The program: stack config -> one MeteorSite -> stack outputs. The body is async only to read the
// promoted-from stack's bundle and the Node.js version the bundle records before anything is registered,
// so a missing or different bundle, or one that records no version with nodeVersion auto, fails the preview.
export = async () => {
    const cfg = loadConfig();
    for (const warning of configWarnings(cfg)) pulumi.log.warn(warning);
    const bundle = await resolveBundle({ promoteFrom: cfg.app.promoteFrom, bundle: cfg.app.bundle });
    const stale = rollbackWarning(bundle.sha256, cfg.ops.rollback);
    if (stale) pulumi.log.warn(stale);
    const nodeVersion = await resolveNodeVersion(cfg.app.nodeVersion, cfg.app.bundle.path);

    const site = new MeteorSite(cfg.project, {
        ...cfg,
        app: { ...cfg.app, bundle, nodeVersion },
        // Names in the DigitalOcean account (unique per account) carry the stack.
        namePrefix: `${cfg.project}-${cfg.stack}`.toLowerCase().replace(/[^a-z0-9-]+/g, "-"),
    });

    return {
        siteUrl: site.url,
        lbReservedIp: site.lbReservedIp,
        loadBalancers: site.loadBalancers,
        checkStatusUrl: pulumi.interpolate`${site.url}/check-status`,
        appPrivateIps: site.appPrivateIps,
        deployPublicKey: site.deployPublicKey,
        vpcIpRange: site.vpcIpRange,
        // What a stack promoting from this one reads (meteor-do:promoteFrom): what the hosts run.
        release: bundleOutput(bundle, cfg.ops.rollback),
        deployedRelease: site.deployedSha256,
        // What `npm run ops` reads (ops/target.ts).
        ops: site.ops,
    };
};
