// The Meteor app's environment, built from typed stack config and rendered as a systemd EnvironmentFile
// (/etc/meteor/app.env on the app hosts). The rendered file is a pulumi Output that is secret whenever any
// input is secret (Mongo URLs and settings usually are), because pulumi.all carries secretness through.
import * as pulumi from "@pulumi/pulumi";
import { reservedEnvNames } from "./config";
import { sha256 } from "./hash";

/** The part of the stack config (components/config.ts StackConfig) that the app's env comes from. */
export interface AppEnvConfig {
    appPort: number;
    mongoUrl?: pulumi.Input<string>;
    mongoOplogUrl?: pulumi.Input<string>;
    /** JSON text; validated and minified. */
    meteorSettings?: pulumi.Input<string>;
    /** Proxies in front of the LB that append to X-Forwarded-For; HTTP_FORWARDED_COUNT = 1 + this. */
    trustedProxyCount: number;
    oplogTooFarBehind?: number;
    /** The app's shutdown grace (STOP_GRACE_SECONDS, read by the sample app), below the unit's TimeoutStopSec. */
    stopGraceSeconds?: number;
    appEnv: Record<string, string>;
}

const KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

function checkConfig(cfg: AppEnvConfig): void {
    if (!Number.isInteger(cfg.appPort) || cfg.appPort < 1 || cfg.appPort > 65535) {
        throw new Error(`appPort must be an integer port, got ${cfg.appPort}`);
    }
    if (!Number.isInteger(cfg.trustedProxyCount) || cfg.trustedProxyCount < 0) {
        throw new Error(`trustedProxyCount must be an integer >= 0, got ${cfg.trustedProxyCount}`);
    }
    if (
        cfg.oplogTooFarBehind !== undefined &&
        (!Number.isInteger(cfg.oplogTooFarBehind) || cfg.oplogTooFarBehind < 1)
    ) {
        throw new Error(`oplogTooFarBehind must be a positive integer, got ${cfg.oplogTooFarBehind}`);
    }
    if (cfg.stopGraceSeconds !== undefined && (!Number.isInteger(cfg.stopGraceSeconds) || cfg.stopGraceSeconds < 0)) {
        throw new Error(`stopGraceSeconds must be an integer >= 0, got ${cfg.stopGraceSeconds}`);
    }
    for (const key of Object.keys(cfg.appEnv)) {
        if (!KEY.test(key)) throw new Error(`appEnv key ${JSON.stringify(key)} is not a valid variable name`);
        if (reservedEnvNames.includes(key))
            throw new Error(`appEnv may not set ${key}; the program sets it from stack config`);
    }
}

/**
 * The app's environment as an ordered map: program-set keys first, then appEnv sorted by key.
 * rootUrl is the public URL (https://<domain or the LB's reserved IP>).
 */
export function appEnv(cfg: AppEnvConfig, rootUrl: pulumi.Input<string>): pulumi.Output<Record<string, string>> {
    checkConfig(cfg);
    return pulumi
        .all([rootUrl, cfg.mongoUrl, cfg.mongoOplogUrl, cfg.meteorSettings])
        .apply(([url, mongoUrl, mongoOplogUrl, meteorSettings]) => {
            const env: Record<string, string> = { NODE_ENV: "production", PORT: String(cfg.appPort), ROOT_URL: url };
            if (mongoUrl !== undefined) env.MONGO_URL = mongoUrl;
            if (mongoOplogUrl !== undefined) env.MONGO_OPLOG_URL = mongoOplogUrl;
            if (meteorSettings !== undefined) env.METEOR_SETTINGS = minifySettings(meteorSettings);
            env.HTTP_FORWARDED_COUNT = String(1 + cfg.trustedProxyCount);
            if (cfg.oplogTooFarBehind !== undefined) env.METEOR_OPLOG_TOO_FAR_BEHIND = String(cfg.oplogTooFarBehind);
            if (cfg.stopGraceSeconds !== undefined) env.STOP_GRACE_SECONDS = String(cfg.stopGraceSeconds);
            // appEnv may override STOP_GRACE_SECONDS (it is the sample app's, not Meteor's).
            for (const key of Object.keys(cfg.appEnv).sort()) env[key] = cfg.appEnv[key];
            return env;
        });
}

/** Validates settings JSON and drops its whitespace (no newlines in the env file). */
export function minifySettings(text: string): string {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        // Never echo the settings: they are usually secret.
        throw new Error("meteorSettings is not valid JSON");
    }
    return JSON.stringify(parsed);
}

/**
 * Renders KEY="value" lines in systemd EnvironmentFile syntax. Inside double quotes systemd (like sh) treats
 * backslash as an escape for \ " ` $ only, so exactly those are escaped. Newlines, CR and NUL are refused
 * (settings are minified, so JSON never needs them) to stay clear of line-continuation rules.
 */
export function renderEnvFile(vars: Record<string, string>): string {
    const lines = ["# Written by meteor-do (components/env.ts). systemd EnvironmentFile syntax."];
    for (const [key, value] of Object.entries(vars)) {
        if (!KEY.test(key)) throw new Error(`env key ${JSON.stringify(key)} is not a valid variable name`);
        if (/[\n\r\0]/.test(value)) throw new Error(`env value of ${key} contains a newline, CR or NUL`);
        lines.push(`${key}="${value.replace(/[\\"`$]/g, "\\$&")}"`);
    }
    return lines.join("\n") + "\n";
}

/** The rendered env file (what index.ts passes to Release); secret whenever any input is secret. */
export function buildAppEnv(cfg: AppEnvConfig, rootUrl: pulumi.Input<string>): pulumi.Output<string> {
    return appEnv(cfg, rootUrl).apply(renderEnvFile);
}

/** sha256 hex of an env file's text; the host names the file /etc/meteor/env/<hash>.env. */
export function envFileHash(content: string): string {
    return sha256(content);
}
