// What a `meteor build --server-only` tarball says about itself: bundle/star.json (`nodeVersion`, `npmVersion`,
// `meteorRelease`) or, in older bundles, bundle/.node_version.txt ("v14.21.4"). The tarball is streamed through
// gunzip and tar-stream and only those two small entries are read: a bundle can be hundreds of MB.
import * as fs from "fs";
import * as zlib from "zlib";
import * as tar from "tar-stream";
import { ConfigError, projectName } from "./config";

export interface BundleInfo {
    /** Exact X.Y.Z, without the "v"; undefined when the bundle records none. */
    nodeVersion?: string;
    /** Where nodeVersion came from. */
    nodeVersionFrom?: "bundle/star.json" | "bundle/.node_version.txt";
    npmVersion?: string;
    meteorRelease?: string;
}

export const starJson = "bundle/star.json";
export const nodeVersionTxt = "bundle/.node_version.txt";
/** Larger than any real metadata file; a bigger entry of that name is not read into memory. */
const maxEntryBytes = 1 << 20;
const exactVersion = /^\d+\.\d+\.\d+$/;

/** Reads the bundle's Node.js version (and what else star.json says). Throws when the file is no tar.gz. */
export async function readBundleInfo(file: string): Promise<BundleInfo> {
    // star.json wins over .node_version.txt, so once it is read the rest need not be.
    const found = await readEntries(file, [starJson, nodeVersionTxt], starJson);
    const info: BundleInfo = {};
    const star = found.get(starJson);
    if (star !== undefined) {
        let parsed: Record<string, unknown>;
        try {
            parsed = JSON.parse(star);
        } catch {
            throw new Error(`${file}: ${starJson} is not valid JSON`);
        }
        if (typeof parsed.npmVersion === "string") info.npmVersion = parsed.npmVersion;
        if (typeof parsed.meteorRelease === "string") info.meteorRelease = parsed.meteorRelease;
        if (parsed.nodeVersion !== undefined) {
            info.nodeVersion = version(parsed.nodeVersion, `${file}: ${starJson} nodeVersion`);
            info.nodeVersionFrom = starJson;
        }
    }
    const txt = found.get(nodeVersionTxt);
    if (info.nodeVersion === undefined && txt !== undefined) {
        info.nodeVersion = version(txt, `${file}: ${nodeVersionTxt}`);
        info.nodeVersionFrom = nodeVersionTxt;
    }
    return info;
}

/**
 * The exact Node.js version the app hosts get: the configured nodeVersion, or with `auto` the one the bundle
 * records. Read before anything is registered, so a bundle that says none fails the preview.
 */
export async function resolveNodeVersion(setting: string, bundlePath: string): Promise<string> {
    if (setting !== "auto") return setting;
    const key = `${projectName}:nodeVersion`;
    let info: BundleInfo;
    try {
        info = await readBundleInfo(bundlePath);
    } catch (e) {
        throw new ConfigError([
            `${key} is "auto", but the bundle's Node.js version cannot be read: ${(e as Error).message}`,
        ]);
    }
    if (info.nodeVersion === undefined) {
        throw new ConfigError([
            `${key} is "auto", but the bundle ${bundlePath} records no Node.js version (no nodeVersion in ${starJson}, no ${nodeVersionTxt}; \`meteor build\` writes them): set ${key} to the exact version X.Y.Z the app needs`,
        ]);
    }
    return info.nodeVersion;
}

function version(v: unknown, what: string): string {
    const text = typeof v === "string" ? v.trim().replace(/^v/, "") : "";
    if (!exactVersion.test(text)) throw new Error(`${what} is ${JSON.stringify(v)}, not an exact version X.Y.Z`);
    return text;
}

/**
 * The named regular-file entries of a tar.gz (names compared without a leading "./"), as UTF-8 text; the
 * stream stops after `last` is read.
 */
async function readEntries(file: string, names: string[], last: string): Promise<Map<string, string>> {
    const wanted = new Set(names);
    const found = new Map<string, string>();
    const source = fs.createReadStream(file);
    const gunzip = zlib.createGunzip();
    const extract = tar.extract();
    // Errors of any stage end the iteration below with that error.
    source.on("error", (e) => extract.destroy(e));
    gunzip.on("error", (e) => extract.destroy(new Error(`${file} is not a gzip-compressed tar: ${e.message}`)));
    source.pipe(gunzip).pipe(extract);
    try {
        for await (const entry of extract) {
            const name = entry.header.name.replace(/^\.\//, "");
            const size = entry.header.size ?? 0;
            if (wanted.has(name) && entry.header.type === "file" && size <= maxEntryBytes) {
                const chunks: Buffer[] = [];
                for await (const chunk of entry) chunks.push(chunk as Buffer);
                found.set(name, Buffer.concat(chunks).toString("utf8"));
                if (name === last) break;
            } else {
                entry.resume();
            }
        }
    } catch (e) {
        const message = (e as Error).message;
        throw new Error(message.startsWith(file) ? message : `${file} is not a gzip-compressed tar: ${message}`);
    } finally {
        source.destroy();
        gunzip.destroy();
    }
    return found;
}
