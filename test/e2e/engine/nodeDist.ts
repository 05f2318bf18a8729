// A Node.js "dist" mirror inside the VPC, made from this machine's own Node, laid out like
// nodejs.org/dist (v<X>/node-v<X>-linux-x64.tar.xz + SHASUMS256.txt), so the app hosts run the
// program's real download-and-verify path against it.
import { execFileSync, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { alive } from "../../support/processes";
import { sleep } from "../../support/wait";
import * as topo from "./topology";

export const NODE_VERSION = process.version.replace(/^v/, "");
const CACHE = path.join(process.env.METEOR_DO_E2E_CACHE ?? "/var/cache/meteor-do-e2e", "node-dist");
const PORT = 8080;

/** Builds (once per version, cached) the tarball and SHASUMS256.txt; returns the dist root. */
export function buildNodeDist(): string {
    const dir = path.join(CACHE, `v${NODE_VERSION}`);
    const name = `node-v${NODE_VERSION}-linux-x64`;
    if (fs.existsSync(path.join(dir, "SHASUMS256.txt"))) return CACHE;
    const stage = fs.mkdtempSync(path.join(topo.DATA_DIR, "node-stage-"));
    try {
        const root = path.join(stage, name);
        const nodeBin = fs.realpathSync(process.execPath);
        // npm ships beside node: <prefix>/lib/node_modules/npm for both Debian-style and nodejs.org layouts.
        const npmDir = path.join(path.dirname(nodeBin), "..", "lib", "node_modules", "npm");
        fs.mkdirSync(path.join(root, "bin"), { recursive: true });
        fs.mkdirSync(path.join(root, "lib", "node_modules"), { recursive: true });
        fs.copyFileSync(nodeBin, path.join(root, "bin", "node"));
        fs.chmodSync(path.join(root, "bin", "node"), 0o755);
        execFileSync("cp", ["-a", npmDir, path.join(root, "lib", "node_modules", "npm")]);
        fs.symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", path.join(root, "bin", "npm"));
        fs.symlinkSync("../lib/node_modules/npm/bin/npx-cli.js", path.join(root, "bin", "npx"));
        fs.mkdirSync(dir, { recursive: true });
        const tarball = path.join(dir, `${name}.tar.xz`);
        execFileSync("tar", [
            "-C",
            stage,
            "--owner=0",
            "--group=0",
            "-I",
            "xz -T2 -1",
            "-cf",
            `${tarball}.partial`,
            name,
        ]);
        fs.renameSync(`${tarball}.partial`, tarball);
        const sum = crypto.createHash("sha256").update(fs.readFileSync(tarball)).digest("hex");
        fs.writeFileSync(path.join(dir, "SHASUMS256.txt"), `${sum}  ${name}.tar.xz\n`);
    } finally {
        fs.rmSync(stage, { recursive: true, force: true });
    }
    return CACHE;
}

/** Serves the dist root from the VPC namespace (Python's http.server); returns the nodeDistUrl. */
export async function serveNodeDist(state: topo.TopologyState, root: string): Promise<string> {
    const url = `http://${state.vpcGateway}:${PORT}`;
    if (state.servers.some((s) => s.name === "node-dist" && alive(s.pid))) return url;
    const child = spawn(
        "ip",
        [
            "netns",
            "exec",
            topo.VPC_NS,
            "/usr/bin/python3",
            "-m",
            "http.server",
            "--bind",
            state.vpcGateway,
            "--directory",
            root,
            String(PORT),
        ],
        { detached: true, stdio: "ignore" },
    );
    child.unref();
    topo.recordServer({ name: "node-dist", pid: child.pid!, netns: topo.VPC_NS });
    for (let i = 0; i < 50; i++) {
        try {
            execFileSync(
                "ip",
                [
                    "netns",
                    "exec",
                    topo.VPC_NS,
                    "curl",
                    "-fsS",
                    "-o",
                    "/dev/null",
                    `${url}/v${NODE_VERSION}/SHASUMS256.txt`,
                ],
                { stdio: "ignore" },
            );
            return url;
        } catch {
            await sleep(100);
        }
    }
    throw new Error("node dist server did not start");
}
