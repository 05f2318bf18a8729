import * as crypto from "crypto";
import * as fs from "fs";

/** sha256 (hex) of text or bytes: release ids, env file names, trigger values. */
export function sha256(data: string | Buffer): string {
    return crypto.createHash("sha256").update(data).digest("hex");
}

/** sha256 (hex) of a file's bytes. */
export function sha256File(file: string): string {
    return sha256(fs.readFileSync(file));
}

/**
 * sha256 over a set of files, every name and content in name order: a trigger that moves exactly when a
 * file is added, removed, renamed or changed.
 */
export function filesHash(files: Record<string, string>): string {
    const h = crypto.createHash("sha256");
    for (const name of Object.keys(files).sort()) h.update(name).update("\0").update(files[name]).update("\0");
    return h.digest("hex");
}
