import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { isJsonObject, rules } from "../../lib/validate";
import { appEnvProblems, minifiedSettingsProblem } from "../env";
import { sha256File } from "../hash";
import { matches, Reader } from "./reader";
import { projectRoot } from "./schema";

export interface Bundle {
    /** Absolute path of the tarball. */
    path: string;
    /** sha256 (hex) of the tarball: the release id. */
    sha256: string;
}

/** The app droplets, the app's runtime and environment, and how a release rolls out. */
export interface AppConfig {
    count: number;
    /** removeHosts: app host names (app-N) removed for good; the others keep their numbers. */
    removeHosts: string[];
    size: string;
    port: number;
    /** X.Y.Z, or "auto": the bundle's own (components/bundleInfo.ts resolveNodeVersion). */
    nodeVersion: string;
    nodeDistUrl: string;
    bundle: Bundle;
    promoteFrom?: string;
    /** appEnv: extra variables of the app's environment, a secret (any value may have been set --secret). */
    env: pulumi.Output<Record<string, string>>;
    /** appEnvAllowUnsafe: appEnv names allowed although they change how Node.js or the loader runs. */
    envAllowUnsafe: string[];
    mongoUrl?: pulumi.Output<string>;
    mongoOplogUrl?: pulumi.Output<string>;
    /** meteorSettings, or the content of meteorSettingsFile; secret either way. */
    meteorSettings?: pulumi.Output<string>;
    oplogTooFarBehind?: number;
    keepReleases: number;
    stopGraceSeconds: number;
    /** appMemoryMax: the app unit's MemoryMax (app-unit.sh). */
    memoryMax: string;
    cutoverTimeoutSeconds: number;
}

export const sizeSlug = /^[a-z0-9][a-z0-9-]*[a-z0-9]$/;

export function readApp(r: Reader): AppConfig {
    const count = r.int("appCount", rules.appCount);
    const removeHosts = r.list("removeHosts", rules.appHostName);
    const twice = removeHosts.find((h, i) => removeHosts.indexOf(h) !== i);
    if (twice !== undefined) r.problem(`${r.key("removeHosts")} lists ${JSON.stringify(twice)} twice`);
    const size = r.checked("appSize", matches(sizeSlug, "must be a DigitalOcean size slug such as s-1vcpu-2gb"));
    const port = r.int("appPort", rules.appPort);
    if (!Number.isNaN(port) && !rules.appPortFree.ok(port)) r.bad("appPort", String(port), rules.appPortFree.allowed);
    const nodeVersion = r.checked(
        "nodeVersion",
        matches(
            /^(auto|[0-9]+\.[0-9]+\.[0-9]+)$/,
            "must be auto (the version the bundle records) or an exact Node.js version X.Y.Z, e.g. 22.12.0",
        ),
    );
    const nodeDistUrl = r
        .checked(
            "nodeDistUrl",
            matches(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, "must be an http(s) URL with the nodejs.org/dist layout"),
        )
        .replace(/\/+$/, "");
    const promoteFrom = r.optional("promoteFrom", rules.stackRef);
    const bundle = readBundle(r, r.text("bundle") ?? "");
    const envAllowUnsafe = r.list("appEnvAllowUnsafe", rules.envName);
    const env = readEnv(r, envAllowUnsafe);
    const meteorSettings = readSettings(r);
    for (const key of ["mongoUrl", "mongoOplogUrl"]) {
        const v = r.text(key);
        if (v !== undefined && !/^mongodb(\+srv)?:\/\/\S+$/.test(v))
            r.problem(`${r.key(key)} must be a mongodb:// or mongodb+srv:// URL (its value is secret and not shown)`);
    }
    return {
        count,
        removeHosts,
        size,
        port,
        nodeVersion,
        nodeDistUrl,
        bundle,
        promoteFrom,
        env,
        envAllowUnsafe,
        mongoUrl: r.secret("mongoUrl"),
        mongoOplogUrl: r.secret("mongoOplogUrl"),
        meteorSettings,
        oplogTooFarBehind: r.optionalInt("oplogTooFarBehind", rules.oplogTooFarBehind),
        keepReleases: r.int("keepReleases", rules.keepReleases),
        stopGraceSeconds: r.int("stopGraceSeconds", rules.stopGraceSeconds),
        memoryMax: r.checked("appMemoryMax", rules.memoryMax),
        cutoverTimeoutSeconds: r.int("cutoverTimeoutSeconds", rules.cutoverTimeoutSeconds),
    };
}

/**
 * appEnv, checked with the rules buildAppEnv applies (components/env.ts), so what config accepts renders.
 * Read as a secret: `pulumi config set --secret --path appEnv.NAME` makes the engine pass the whole map as
 * one value, and no value of it may reach the state or a preview in plain text.
 */
function readEnv(r: Reader, allowUnsafe: string[]): pulumi.Output<Record<string, string>> {
    const env = r.object("appEnv");
    for (const problem of appEnvProblems(env, allowUnsafe, r.key("appEnv"))) r.problem(problem);
    return pulumi.secret(env as Record<string, string>);
}

/** meteorSettings (a secret) or meteorSettingsFile (a file in this project): a JSON object under 128 KiB. */
function readSettings(r: Reader): pulumi.Output<string> | undefined {
    const inline = r.text("meteorSettings");
    const file = r.text("meteorSettingsFile");
    if (inline !== undefined && file !== undefined) {
        r.problem(`${r.key("meteorSettings")} and ${r.key("meteorSettingsFile")} are both set: set one of them`);
        return undefined;
    }
    let text = inline;
    let what = r.key("meteorSettings");
    let note = " (its value is secret and not shown)";
    if (file !== undefined) {
        const full = path.resolve(projectRoot, file);
        what = `${r.key("meteorSettingsFile")} ${JSON.stringify(file)} (${full})`;
        note = "";
        if (!fs.existsSync(full) || !fs.statSync(full).isFile()) {
            r.problem(`${what}: no such file; give a path relative to this project, e.g. settings/production.json`);
            return undefined;
        }
        text = fs.readFileSync(full, "utf8");
    }
    if (text === undefined) return undefined;
    // The parser's message would quote the text, which may hold secrets.
    if (!isJsonObject(text)) r.problem(`${what} must be a JSON object${note}`);
    else {
        const tooLarge = minifiedSettingsProblem(text);
        if (tooLarge) r.problem(`${what} ${tooLarge}${note}`);
    }
    return pulumi.secret(text);
}

function readBundle(r: Reader, value: string): Bundle {
    const file = path.resolve(projectRoot, value);
    if (!value.endsWith(".tgz") && !value.endsWith(".tar.gz")) {
        r.problem(
            `${r.key("bundle")} is ${JSON.stringify(value)}: must be a .tar.gz/.tgz made by \`meteor build --server-only\``,
        );
        return { path: file, sha256: "" };
    }
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) {
        r.problem(
            `${r.key("bundle")} is ${JSON.stringify(value)}: no such file (${file}). Build the sample app with \`npm run sample:bundle\`, or point bundle at your \`meteor build --server-only\` tarball`,
        );
        return { path: file, sha256: "" };
    }
    return { path: file, sha256: sha256File(file) };
}
