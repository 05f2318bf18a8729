import * as pulumi from "@pulumi/pulumi";
import { AppConfig, readApp } from "./app";
import { LbSettings, readLb } from "./lb";
import { OpsSettings, readOps } from "./ops";
import { PlacementConfig, readPlacement } from "./placement";
import { Reader } from "./reader";
import { ConfigError, projectName, RawConfig } from "./schema";
import { readServices, ServicesConfig } from "./services";
import { readTls, TlsSettings } from "./tls";

/**
 * Stack configuration, read and validated once. Components take the typed sections (or pieces of them)
 * and never read config themselves. Every problem of every section is reported at once, each naming the
 * key, the value (never a secret's) and what is allowed, so `pulumi preview` fails before anything is
 * touched. The rules themselves are lib/validate.ts's, shared with the renderer and the host scripts.
 */

export type { HealthCheck, HealthCheckType, Stickiness, TlsMode } from "../../lib/types";
export { reservedEnvNames } from "../env";
export type { AppConfig, Bundle } from "./app";
export type { LbSettings } from "./lb";
export type { OpsSettings, RecordedRollback } from "./ops";
export { regions } from "./placement";
export type { PlacementConfig } from "./placement";
export { ConfigError, configSchema, projectName, projectRoot } from "./schema";
export type { KeySchema, RawConfig } from "./schema";
export type { AlertWindow, DatabaseMode, ServicesConfig } from "./services";
export { letsencryptDirectories } from "./tls";
export type { TlsSettings } from "./tls";

export interface StackConfig {
    project: string;
    stack: string;
    placement: PlacementConfig;
    app: AppConfig;
    lb: LbSettings;
    tls: TlsSettings;
    services: ServicesConfig;
    /** Day 2: operator keys and a recorded rollback. */
    ops: OpsSettings;
}

const runtimeConfig: RawConfig = (key) => pulumi.runtime.getConfig(`${projectName}:${key}`);

/**
 * Reads and checks every key, section by section. `raw` defaults to the engine's config; tests pass
 * their own. Throws a ConfigError listing every problem.
 */
export function loadConfig(raw: RawConfig = runtimeConfig, stack = pulumi.getStack()): StackConfig {
    const r = new Reader(raw);
    const placement = readPlacement(r);
    const app = readApp(r);
    const lb = readLb(r);
    const tls = readTls(r);
    const services = readServices(r, tls, placement, app);
    const ops = readOps(r);
    if (r.problems.length > 0) throw new ConfigError(r.problems);
    return { project: projectName, stack, placement, app, lb, tls, services, ops };
}

/** Warnings worth showing in every preview (not errors: the configuration works, but look at it). */
export function configWarnings(cfg: StackConfig): string[] {
    const warnings: string[] = [];
    if (cfg.placement.adminCidrs.length === 0) {
        warnings.push(
            `${projectName}:adminCidrs is unset: SSH to the load balancer is open to any address (key-only, no passwords, no root) and /check-status is reachable only from the VPC. Set adminCidrs to your office/CI ranges to close it.`,
        );
    }
    return warnings;
}
