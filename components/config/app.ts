import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { isJsonObject, rules } from "../../lib/validate";
import { appEnvProblems } from "../env";
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
    size: string;
    port: number;
    nodeVersion: string;
    nodeDistUrl: string;
    bundle: Bundle;
    promoteFrom?: string;
    /** appEnv: extra variables of the app's environment. */
    env: Record<string, string>;
    mongoUrl?: pulumi.Output<string>;
    mongoOplogUrl?: pulumi.Output<string>;
    meteorSettings?: pulumi.Output<string>;
    oplogTooFarBehind?: number;
    keepReleases: number;
    stopGraceSeconds: number;
    cutoverTimeoutSeconds: number;
}

export const sizeSlug = /^[a-z0-9][a-z0-9-]*[a-z0-9]$/;

export function readApp(r: Reader): AppConfig {
    const count = r.int("appCount", rules.appCount);
    const size = r.checked("appSize", matches(sizeSlug, "must be a DigitalOcean size slug such as s-1vcpu-2gb"));
    const port = r.int("appPort", rules.appPort);
    if (!Number.isNaN(port) && !rules.appPortFree.ok(port)) r.bad("appPort", String(port), rules.appPortFree.allowed);
    const nodeVersion = r.checked(
        "nodeVersion",
        matches(/^[0-9]+\.[0-9]+\.[0-9]+$/, "must be an exact Node.js version X.Y.Z, e.g. 22.12.0"),
    );
    const nodeDistUrl = r
        .checked(
            "nodeDistUrl",
            matches(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, "must be an http(s) URL with the nodejs.org/dist layout"),
        )
        .replace(/\/+$/, "");
    const promoteFrom = r.optional("promoteFrom", rules.stackRef);
    const bundle = readBundle(r, r.text("bundle") ?? "");
    const env = readEnv(r);
    const meteorSettings = r.text("meteorSettings");
    if (meteorSettings !== undefined && !isJsonObject(meteorSettings))
        r.problem(`${r.key("meteorSettings")} must be a JSON object (its value is secret and not shown)`);
    for (const key of ["mongoUrl", "mongoOplogUrl"]) {
        const v = r.text(key);
        if (v !== undefined && !/^mongodb(\+srv)?:\/\/\S+$/.test(v))
            r.problem(`${r.key(key)} must be a mongodb:// or mongodb+srv:// URL (its value is secret and not shown)`);
    }
    return {
        count,
        size,
        port,
        nodeVersion,
        nodeDistUrl,
        bundle,
        promoteFrom,
        env,
        mongoUrl: r.secret("mongoUrl"),
        mongoOplogUrl: r.secret("mongoOplogUrl"),
        meteorSettings: r.secret("meteorSettings"),
        oplogTooFarBehind: r.optionalInt("oplogTooFarBehind", rules.oplogTooFarBehind),
        keepReleases: r.int("keepReleases", rules.keepReleases),
        stopGraceSeconds: r.int("stopGraceSeconds", rules.stopGraceSeconds),
        cutoverTimeoutSeconds: r.int("cutoverTimeoutSeconds", rules.cutoverTimeoutSeconds),
    };
}

/** appEnv, checked with the rules buildAppEnv applies (components/env.ts), so what config accepts renders. */
function readEnv(r: Reader): Record<string, string> {
    const env = r.object("appEnv");
    for (const problem of appEnvProblems(env, [], r.key("appEnv"))) r.problem(problem);
    return env as Record<string, string>;
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
