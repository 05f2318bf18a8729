// The sample app (sample-app/) for test/sample, test/host and bench/deploy.ts: deterministic bundles,
// unpacked and run as a plain node process on 127.0.0.1.
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ROOT } from "./files";

// eslint-disable-next-line @typescript-eslint/no-require-imports -- sample-app/build.js is plain CommonJS, without types
const builder = require(path.join(ROOT, "sample-app", "build.js")) as {
    build(opts: {
        out: string;
        release: string;
        broken: string | null;
        nodeVersion?: string | null;
        requireMongoUrl?: boolean;
    }): {
        path: string;
        sha256: string;
    };
};

export interface Bundle {
    path: string;
    sha256: string;
}

/**
 * Builds the sample bundle (deterministic tarball) into `out`. nodeVersion overrides its star.json's;
 * requireMongoUrl makes the server stop at start without MONGO_URL, as Meteor does.
 */
export function buildBundle(
    out: string,
    release: string,
    broken: "exit" | "unhealthy" | null = null,
    opts: { nodeVersion?: string; requireMongoUrl?: boolean } = {},
): Bundle {
    return builder.build({
        out,
        release,
        broken,
        nodeVersion: opts.nodeVersion ?? null,
        requireMongoUrl: opts.requireMongoUrl,
    });
}

/** Unpacks a bundle tarball into dir (dir/bundle/main.js). */
export function unpack(tarball: string, dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync("tar", ["-xzf", tarball, "-C", dir]);
}

/** Starts the sample server from an unpacked bundle dir on 127.0.0.1:port. */
export function startApp(bundleDir: string, env: Record<string, string>): ChildProcess {
    const child = spawn(process.execPath, ["main.js"], {
        cwd: path.join(bundleDir, "bundle"),
        env: { PATH: process.env.PATH ?? "", BIND_IP: "127.0.0.1", ...env },
        stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout!.on("data", (c) => (output += c));
    child.stderr!.on("data", (c) => (output += c));
    (child as ChildProcess & { output: () => string }).output = () => output;
    return child;
}

export function outputOf(child: ChildProcess): string {
    return (child as ChildProcess & { output?: () => string }).output?.() ?? "";
}
