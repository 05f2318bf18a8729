// The local stack's config (scripts/local.ts): a Pulumi stack file read as the engine passes it to the program
// (every value as text, structured values as JSON), plus the few keys the local topology decides.
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { configSchema, projectName, projectRoot } from "../components/config/schema";

/** What the topology provides and the config cannot choose. */
export interface LocalTopology {
    /** The Node.js mirror in the VPC and the one version it serves (this machine's). */
    nodeDistUrl: string;
    nodeVersion: string;
    /** Where the forwards and every Command come from: it must be in adminCidrs. */
    clientAddress: string;
    /** vpcIpRange unless the file sets one. */
    vpcIpRange: string;
    /** The topology's fake DigitalOcean API (reserved-IP actions): what two LBs assign the address with. */
    doApi?: { url: string; token: string };
}

export interface LocalConfig {
    /** The stack file read, relative to the project when inside it; undefined: Pulumi.yaml's defaults only. */
    source?: string;
    config: Record<string, string>;
    /** Keys Pulumi.yaml marks secret that are set: the program gets them as secrets. */
    secretKeys: string[];
    /** The bundle file (absolute) and whether it is the sample's default. */
    bundle: { file: string; isSample: boolean };
    /** One line per value the topology changed. */
    notes: string[];
}

const asText = (v: unknown): string => (typeof v === "string" ? v : JSON.stringify(v));

/** `config:` of a Pulumi stack file as key → text, only this project's keys (others are reported in notes). */
export function readStackFile(file: string, notes: string[] = []): Record<string, string> {
    let doc: unknown;
    try {
        doc = YAML.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new Error(`--config ${file}: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`);
    }
    const block = (doc as { config?: unknown } | null)?.config ?? {};
    if (typeof block !== "object" || Array.isArray(block) || block === null)
        throw new Error(`--config ${file}: "config" must be a map of "${projectName}:<key>": <value>`);
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(block)) {
        if (!name.startsWith(`${projectName}:`)) {
            notes.push(`${name} ignored (the local stack has no provider config)`);
            continue;
        }
        const key = name.slice(projectName.length + 1);
        if (value && typeof value === "object" && "secure" in value)
            throw new Error(
                `--config ${file}: ${name} is encrypted (secure:), which only the Pulumi CLI can read; a local stack file holds plain values`,
            );
        if (value === null || value === undefined) continue;
        out[key] = asText(value);
    }
    return out;
}

/** The config one local `up` runs with: the file's values, and the topology's where it must decide. */
export function localConfig(file: string | undefined, topology: LocalTopology): LocalConfig {
    const notes: string[] = [];
    const config = file ? readStackFile(file, notes) : {};
    const schema = configSchema();

    if (config.tlsMode === "letsencrypt")
        throw new Error(
            `--config ${file}: ${projectName}:tlsMode letsencrypt needs a public domain; the local stack allows self-signed or provided`,
        );
    const pinned = config.nodeVersion;
    if (pinned && pinned !== "auto" && pinned !== topology.nodeVersion)
        notes.push(`nodeVersion ${pinned} replaced by ${topology.nodeVersion}: the local mirror serves this machine's`);
    if (config.nodeDistUrl) notes.push(`nodeDistUrl replaced by the local mirror ${topology.nodeDistUrl}`);
    config.nodeVersion = topology.nodeVersion;
    config.nodeDistUrl = topology.nodeDistUrl;

    let cidrs: unknown = [];
    try {
        cidrs = config.adminCidrs ? JSON.parse(config.adminCidrs) : [];
    } catch {
        // The program names the key and what is allowed.
    }
    if (Array.isArray(cidrs)) {
        const own = `${topology.clientAddress}/32`;
        if (!cidrs.includes(own)) config.adminCidrs = JSON.stringify([...cidrs, own]);
    }
    config.vpcIpRange ??= topology.vpcIpRange;

    // lbCount 2: the LBs move the reserved IP through the topology's fake DigitalOcean API; a real token
    // or API URL in the file must not be used (nor sent anywhere) from here.
    if (config.lbCount === "2") {
        if (!topology.doApi) throw new Error(`${projectName}:lbCount 2 needs the local topology's DigitalOcean API`);
        if (config.failoverApiToken) notes.push("failoverApiToken replaced by the local DigitalOcean API's token");
        if (config.digitaloceanApiUrl)
            notes.push(`digitaloceanApiUrl replaced by the local DigitalOcean API ${topology.doApi.url}`);
        config.failoverApiToken = topology.doApi.token;
        config.digitaloceanApiUrl = topology.doApi.url;
    }

    const sample = String(schema.bundle.default);
    const bundle = config.bundle ?? sample;
    const secretKeys = Object.keys(config).filter((k) => schema[k]?.secret);
    const inProject = file && path.relative(projectRoot, path.resolve(file));
    return {
        source: inProject && !inProject.startsWith("..") ? inProject : file,
        config,
        secretKeys,
        bundle: { file: path.resolve(projectRoot, bundle), isSample: bundle === sample },
        notes,
    };
}
