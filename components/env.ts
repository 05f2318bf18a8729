// The Meteor app's environment, built from typed stack config and rendered as a systemd EnvironmentFile
// (envPaths.appEnv of lib/layout.ts on the app hosts). The rendered file is always a secret: a value set with
// `pulumi config set --secret --path appEnv.NAME` must stay one, and so must the Mongo URLs and settings.
// The name rules here are the ones config validation applies at preview (components/config*).
import * as pulumi from "@pulumi/pulumi";
import { assertRule, rules } from "../lib/validate";
import { sha256 } from "./hash";

/** The part of the stack config that the app's env comes from. */
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
    /** Extra variables (config appEnv); an Output when read from config, secret when any value is. */
    appEnv: pulumi.Input<Record<string, string>>;
    /** Names of appEnv allowed although they change how Node.js or the loader runs (see unsafeEnvName). */
    appEnvAllowUnsafe?: string[];
}

/** Env names the program sets itself; appEnv may not override them. */
export const reservedEnvNames = [
    "PORT",
    "BIND_IP",
    "ROOT_URL",
    "MONGO_URL",
    "MONGO_OPLOG_URL",
    "METEOR_SETTINGS",
    "HTTP_FORWARDED_COUNT",
    "METEOR_OPLOG_TOO_FAR_BEHIND",
    "NODE_ENV",
];

/**
 * Names that change how Node.js, TLS or the dynamic loader behave rather than configure the app: code
 * loaded into the process (NODE_OPTIONS --require, LD_PRELOAD, OPENSSL_CONF engines), certificate
 * checks switched off (NODE_TLS_REJECT_UNAUTHORIZED) or trust widened, other binaries on PATH.
 */
const unsafeNames = [
    "PATH",
    "NODE_OPTIONS",
    "NODE_PATH",
    "NODE_EXTRA_CA_CERTS",
    "NODE_ICU_DATA",
    "NODE_REPL_EXTERNAL_MODULE",
    "OPENSSL_CONF",
    "OPENSSL_MODULES",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "BASH_ENV",
    "ENV",
    "GLIBC_TUNABLES",
];
const unsafePrefixes = ["LD_", "NODE_TLS_"];

export function unsafeEnvName(name: string): boolean {
    return unsafeNames.includes(name) || unsafePrefixes.some((p) => name.startsWith(p));
}

/** Linux refuses to start a program with one environment string (NAME=value) of 128 KiB or more. */
export const maxEnvStringBytes = 128 * 1024;
export const envStringTooLarge = (name: string, value: string) =>
    Buffer.byteLength(`${name}=${value}`) + 1 > maxEnvStringBytes;

export const envNameRule = rules.envName;

/**
 * What is wrong with an appEnv map, one line per problem, each starting with `key` (how the user names
 * appEnv). Values are never shown: any of them may be a secret.
 */
export function appEnvProblems(env: Record<string, unknown>, allowUnsafe: string[], key: string): string[] {
    const problems: string[] = [];
    for (const [name, value] of Object.entries(env)) {
        if (!envNameRule.ok(name)) problems.push(`${key} has the name ${JSON.stringify(name)}: ${envNameRule.allowed}`);
        else if (reservedEnvNames.includes(name))
            problems.push(
                `${key} sets ${name}, which the program sets itself (${reservedEnvNames.join(", ")}); use the matching config key`,
            );
        else if (unsafeEnvName(name) && !allowUnsafe.includes(name))
            problems.push(
                `${key} sets ${name}, which changes how Node.js, TLS or the loader runs (PATH, NODE_OPTIONS, NODE_PATH, LD_*, NODE_TLS_*, NODE_EXTRA_CA_CERTS, OPENSSL_CONF, SSL_CERT_*, ...); if you mean it, list it in ${key}AllowUnsafe`,
            );
        if (typeof value !== "string") problems.push(`${key}.${name} must be a string (its value is not shown)`);
        else if (/[\n\r\0]/.test(value))
            problems.push(`${key}.${name} contains a newline, CR or NUL (its value is not shown)`);
        else if (envStringTooLarge(name, value))
            problems.push(
                `${key}.${name} is ${Buffer.byteLength(value)} bytes: one variable must stay under ${maxEnvStringBytes} bytes (128 KiB), or the app cannot start`,
            );
    }
    return problems;
}

function checkConfig(cfg: AppEnvConfig): void {
    assertRule(rules.appPort, cfg.appPort, "appPort");
    assertRule(rules.trustedProxyCount, cfg.trustedProxyCount, "trustedProxyCount");
    if (cfg.oplogTooFarBehind !== undefined)
        assertRule(rules.oplogTooFarBehind, cfg.oplogTooFarBehind, "oplogTooFarBehind");
    if (cfg.stopGraceSeconds !== undefined)
        assertRule(rules.stopGraceSeconds, cfg.stopGraceSeconds, "stopGraceSeconds");
}

function checkAppEnv(env: Record<string, string>, allowUnsafe: string[]): void {
    const problems = appEnvProblems(env, allowUnsafe, "appEnv");
    if (problems.length > 0) throw new Error(problems.join("; "));
}

/**
 * The app's environment as an ordered map: program-set keys first, then appEnv sorted by key.
 * rootUrl is the public URL (https://<domain or the LB's reserved IP>).
 */
export function appEnv(cfg: AppEnvConfig, rootUrl: pulumi.Input<string>): pulumi.Output<Record<string, string>> {
    checkConfig(cfg);
    const allowUnsafe = cfg.appEnvAllowUnsafe ?? [];
    // A plain map is checked now (a library caller's mistake fails at once); an Output when it resolves.
    if (!pulumi.Output.isInstance(cfg.appEnv) && !(cfg.appEnv instanceof Promise))
        checkAppEnv(cfg.appEnv as Record<string, string>, allowUnsafe);
    return pulumi
        .all([rootUrl, cfg.mongoUrl, cfg.mongoOplogUrl, cfg.meteorSettings, cfg.appEnv])
        .apply(([url, mongoUrl, mongoOplogUrl, meteorSettings, extra]) => {
            checkAppEnv(extra, allowUnsafe);
            const env: Record<string, string> = { NODE_ENV: "production", PORT: String(cfg.appPort), ROOT_URL: url };
            if (mongoUrl !== undefined) env.MONGO_URL = mongoUrl;
            if (mongoOplogUrl !== undefined) env.MONGO_OPLOG_URL = mongoOplogUrl;
            if (meteorSettings !== undefined) env.METEOR_SETTINGS = minifySettings(meteorSettings);
            env.HTTP_FORWARDED_COUNT = String(1 + cfg.trustedProxyCount);
            if (cfg.oplogTooFarBehind !== undefined) env.METEOR_OPLOG_TOO_FAR_BEHIND = String(cfg.oplogTooFarBehind);
            if (cfg.stopGraceSeconds !== undefined) env.STOP_GRACE_SECONDS = String(cfg.stopGraceSeconds);
            // appEnv may override STOP_GRACE_SECONDS (it is the sample app's, not Meteor's).
            for (const key of Object.keys(extra).sort()) env[key] = extra[key];
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
    const minified = JSON.stringify(parsed);
    const tooLarge = minifiedSettingsProblem(text);
    if (tooLarge) throw new Error(`meteorSettings ${tooLarge}`);
    return minified;
}

/** Why settings JSON (valid) cannot be METEOR_SETTINGS, or undefined: over 128 KiB minified the app cannot start. */
export function minifiedSettingsProblem(text: string): string | undefined {
    const minified = JSON.stringify(JSON.parse(text));
    if (!envStringTooLarge("METEOR_SETTINGS", minified)) return undefined;
    return `is ${Buffer.byteLength(minified)} bytes minified; METEOR_SETTINGS must stay under ${maxEnvStringBytes} bytes (128 KiB), or the app cannot start`;
}

/**
 * Renders KEY="value" lines in systemd EnvironmentFile syntax. Inside double quotes systemd (like sh) treats
 * backslash as an escape for \ " ` $ only, so exactly those are escaped. Newlines, CR and NUL are refused
 * (settings are minified, so JSON never needs them) to stay clear of line-continuation rules.
 */
export function renderEnvFile(vars: Record<string, string>): string {
    const lines = ["# Written by meteor-do (components/env.ts). systemd EnvironmentFile syntax."];
    for (const [key, value] of Object.entries(vars)) {
        if (!rules.envName.ok(key)) throw new Error(`env key ${JSON.stringify(key)} is not a valid variable name`);
        if (/[\n\r\0]/.test(value)) throw new Error(`env value of ${key} contains a newline, CR or NUL`);
        lines.push(`${key}="${value.replace(/[\\"`$]/g, "\\$&")}"`);
    }
    return lines.join("\n") + "\n";
}

/** The rendered env file (what the release's Commands get on stdin): always a secret. */
export function buildAppEnv(cfg: AppEnvConfig, rootUrl: pulumi.Input<string>): pulumi.Output<string> {
    return pulumi.secret(appEnv(cfg, rootUrl).apply(renderEnvFile));
}

/** sha256 hex of an env file's text; the host names the file <envPaths.dir>/<hash>.env. */
export function envFileHash(content: string): string {
    return sha256(content);
}
