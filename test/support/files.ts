// Temporary directories (removed by removeTempDirs) and trees of files written from a name -> text map.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const dirs: string[] = [];

/** A new directory under the OS temp dir, world-readable: nginx workers run as nobody under a root master. */
export function tempDir(tag: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `meteor-do-${tag}-`));
    fs.chmodSync(dir, 0o755);
    dirs.push(dir);
    return dir;
}

/** Removes every directory tempDir made so far. */
export function removeTempDirs(): void {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** Replaces `root` with exactly these files (paths relative to root). */
export function writeTree(root: string, files: Record<string, string>): void {
    fs.rmSync(root, { recursive: true, force: true });
    for (const [rel, text] of Object.entries(files)) {
        const f = path.join(root, rel);
        fs.mkdirSync(path.dirname(f), { recursive: true });
        fs.writeFileSync(f, text);
    }
}

/** The repository root (the suites run the host scripts and templates from here). */
export const ROOT = path.resolve(__dirname, "..", "..");

/** A fake command's call log: one line per call, its fields tab-separated (empty lines skipped). */
export const callLog = (file: string): string[][] =>
    fs
        .readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l !== "")
        .map((l) => l.split("\t"));
