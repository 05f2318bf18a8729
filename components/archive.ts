import * as zlib from "zlib";
import * as tar from "tar-stream";

/**
 * Packs files into a gzipped tar, base64-encoded, for a Command's stdin (`base64 -d | tar -xzf - -C DIR`).
 * Entries are sorted and carry mtime 0 and fixed ownership, so the same files always give the same bytes:
 * a trigger built from the files, or a diff of stdin, changes only when a file does.
 */
export async function tarGzBase64(files: Record<string, string>, mode = 0o644): Promise<string> {
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    const done = new Promise<void>((resolve, reject) => {
        pack.on("data", (c) => chunks.push(c as Buffer));
        pack.on("end", () => resolve());
        pack.on("error", reject);
    });
    for (const name of Object.keys(files).sort()) {
        if (name.startsWith("/") || name.split("/").includes("..")) {
            throw new Error(`archive entry "${name}" must be a relative path inside the archive`);
        }
        pack.entry({ name, mode, mtime: new Date(0), uid: 0, gid: 0, uname: "root", gname: "root" }, files[name]);
    }
    pack.finalize();
    await done;
    // Header field 9 (OS) and mtime are fixed by zlib, so gzip output is stable for the same tar.
    return zlib.gzipSync(Buffer.concat(chunks), { level: 9 }).toString("base64");
}
