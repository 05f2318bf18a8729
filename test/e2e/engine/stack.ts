// The local stack: the unmodified program, `up` after `up` under the mocks, against the topology. It knows
// nothing of the scenario, so anything that wants a DigitalOcean-shaped stack on this machine (the e2e
// scenario, a long-running local stack) prepares it, runs `up`s with its own config and inspects the hosts.
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { appPaths, lbAdminPort } from "../../../lib/layout";
import { ROOT } from "../../support/files";
import { killPid } from "../../support/processes";
import { DO_API_CONFIG, DO_API_ERR, DO_API_LOG, startDoApi } from "./doApi";
import { hostExec } from "./hosts";
import { buildNodeDist, serveNodeDist } from "./nodeDist";
import { Exec, runIn } from "./ssh";
import { loadEngineState, MOCK_STATE } from "./state";
import * as topo from "./topology";
import type { UpResult } from "./up";

/** The LB admin API on the LB host's loopback. */
const LB_ADMIN = `http://127.0.0.1:${lbAdminPort}`;
const IMAGE_SH = path.join(__dirname, "image.sh");
/** App droplets are named `<prefix>-app-<n>` (components/appServers.ts); the other droplets are LBs. */
const APP_HOST = /-app-\d+$/;

export interface StackOptions {
    /** The Pulumi stack name the program sees. */
    stack: string;
    /** The VPC range the topology carves private addresses from (the program's vpcIpRange). */
    vpcRange: string;
    log: (msg: string) => void;
}

export class LocalStack {
    private program = path.join(ROOT, "index.ts");
    private upCount = 0;
    /** The fake DigitalOcean API (doApi.ts): the program's digitaloceanApiUrl and failoverApiToken. */
    doApi?: { url: string; token: string };

    constructor(readonly opts: StackOptions) {}

    /** The droplet image (built once per package list, then cached): its path, cache key and the time taken. */
    image(): { path: string; key: string; cached: boolean; seconds: number } {
        const t = Date.now();
        const key = execFileSync("bash", [IMAGE_SH, "--key"], { encoding: "utf8" }).trim();
        const cacheRoot = process.env.METEOR_DO_E2E_CACHE ?? "/var/cache/meteor-do-e2e";
        const cached = fs.existsSync(path.join(cacheRoot, key, "ready"));
        const image = execFileSync("bash", [IMAGE_SH], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
        this.opts.log(`image ${image.trim()} (${cached ? "cached" : "built"})`);
        return { path: image.trim(), key, cached, seconds: Math.round((Date.now() - t) / 100) / 10 };
    }

    /**
     * The namespaces and bridges (reused when up), the Node.js mirror in the VPC and the fake DigitalOcean
     * API on the public side (its URL and token in `doApi`); returns the mirror's URL.
     */
    async network(image: string): Promise<string> {
        topo.createNetwork(image, this.opts.vpcRange);
        const root = buildNodeDist();
        const url = await serveNodeDist(topo.loadState()!, root);
        this.doApi = await startDoApi();
        return url;
    }

    /**
     * Every `up` runs the same program: a copy taken here, first (the working tree may change under a long
     * run). Templates and host scripts are read relative to the code, so they come along. Returns the
     * overlay laid over it, if any (METEOR_DO_E2E_OVERLAY): then the run does not test the unmodified program.
     */
    snapshotProgram(): string | undefined {
        const dir = path.join(topo.DATA_DIR, "program");
        fs.rmSync(dir, { recursive: true, force: true });
        fs.mkdirSync(dir, { recursive: true });
        for (const entry of [
            "index.ts",
            "Pulumi.yaml",
            "package.json",
            "tsconfig.json",
            "components",
            "lib",
            "nginx",
        ]) {
            if (fs.existsSync(path.join(ROOT, entry)))
                fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
        }
        fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
        this.program = path.join(dir, "index.ts");
        // METEOR_DO_E2E_OVERLAY=DIR: files laid over the copy, to try a fix locally before it lands.
        const overlay = process.env.METEOR_DO_E2E_OVERLAY;
        if (!overlay) return undefined;
        fs.cpSync(path.resolve(overlay), dir, { recursive: true });
        this.opts.log(`program overlay ${overlay} applied: this run does NOT test the unmodified program`);
        return overlay;
    }

    /** One `up` of the program with this config, in a process of its own (see up.ts). */
    async up(
        label: string,
        config: Record<string, string>,
        secretKeys: string[] = [],
    ): Promise<UpResult & { ms: number }> {
        const n = ++this.upCount;
        const request = path.join(topo.DATA_DIR, `up-${n}.json`);
        const resultFile = path.join(topo.DATA_DIR, `up-${n}-result.json`);
        const logFile = path.join(topo.DATA_DIR, `up-${n}.log`);
        fs.rmSync(resultFile, { force: true });
        const body = { stack: this.opts.stack, config, secretKeys, resultFile, program: this.program };
        fs.writeFileSync(request, JSON.stringify(body), { mode: 0o600 });
        const t = Date.now();
        this.opts.log(`up #${n} (${label}) ...`);
        const out = fs.openSync(logFile, "w", 0o600);
        const up = path.join(__dirname, "up.ts");
        const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", up, request], {
            cwd: path.dirname(this.program),
            stdio: ["ignore", out, out],
        });
        fs.closeSync(out);
        const timer = setTimeout(() => killPid(child.pid), 12 * 60e3);
        await new Promise((r) => child.on("close", r));
        clearTimeout(timer);
        const result: UpResult = fs.existsSync(resultFile)
            ? JSON.parse(fs.readFileSync(resultFile, "utf8"))
            : { ok: false, journal: [], errors: [`up exited without a result; see ${logFile}`] };
        const cmds = result.journal.filter((j) => j.type.startsWith("command:remote:"));
        const ran = cmds.filter((j) => j.action !== "same").length;
        const secs = ((Date.now() - t) / 1000).toFixed(1);
        this.opts.log(
            `up #${n} ${result.ok ? "succeeded" : "FAILED"} in ${secs} s: ${ran}/${cmds.length} commands ran`,
        );
        for (const e of result.errors) this.opts.log(`  error: ${e.split("\n").slice(0, 12).join("\n    ")}`);
        return { ...result, ms: Date.now() - t };
    }

    hosts(): topo.HostRecord[] {
        return Object.values(topo.loadState()?.hosts ?? {});
    }

    /** The droplet that holds the reserved IP (with two LBs: the active one). */
    lbHost(): topo.HostRecord {
        const h = this.hosts().find((x) => x.extraPublicIps.length > 0);
        if (!h) throw new Error("no droplet holds the reserved IP");
        return h;
    }

    /** The LB droplets, active or not: every droplet that is not an app host (`<prefix>-app-<n>`). */
    lbHosts(): topo.HostRecord[] {
        return this.hosts()
            .filter((h) => !APP_HOST.test(h.name))
            .sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
    }

    appHosts(): topo.HostRecord[] {
        return this.hosts()
            .filter((h) => APP_HOST.test(h.name))
            .sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
    }

    /** A shell script on a droplet, as root (the hypervisor's view, not SSH). */
    sh(host: topo.HostRecord, script: string): Exec {
        return hostExec(host, ["bash", "-c", script]);
    }

    /** curl from the internet side, optionally from one of the client addresses. */
    curl(args: string[], source?: string): Promise<Exec> {
        const from = source ? ["--interface", source] : [];
        return runIn(topo.CLIENT_NS, ["curl", "-sS", "--max-time", "10", ...from, ...args]);
    }

    /** The release a host's current link points at. */
    currentRelease(host: topo.HostRecord): string {
        return this.sh(host, `readlink ${appPaths.current} || true`)
            .stdout.trim()
            .replace(/^releases\//, "");
    }

    /** A peer's state in the LB's admin API ({} when it does not answer). */
    lbPeer(peer: string): { status?: string; draining?: boolean } {
        const r = this.sh(this.lbHost(), `curl -sS --max-time 2 ${LB_ADMIN}/lb/peers/${peer}`);
        try {
            return JSON.parse(r.stdout);
        } catch {
            return {};
        }
    }

    /** The stack's resources as the mock engine stored them (outputs in plain text). */
    engineState() {
        return loadEngineState();
    }

    /** Stops every host and server (by PID) and removes the namespaces and the engine's state. */
    async teardown(): Promise<void> {
        await topo.teardown();
        fs.rmSync(MOCK_STATE, { force: true });
        fs.rmSync(DO_API_CONFIG, { force: true });
    }

    /** teardown(), and every file an earlier run left in the data dir (its `up` logs, program copy, bundles). */
    async removeAll(): Promise<void> {
        await this.teardown();
        fs.rmSync(path.join(topo.DATA_DIR, "deploy_key"), { force: true });
        fs.rmSync(path.join(topo.DATA_DIR, "deploy_app_key"), { force: true });
        for (const f of [DO_API_LOG, DO_API_ERR]) fs.rmSync(f, { force: true });
        for (const d of ["program", "bundles"])
            fs.rmSync(path.join(topo.DATA_DIR, d), { recursive: true, force: true });
        this.removeUpFiles();
    }

    removeUpFiles(): void {
        for (const f of fs.existsSync(topo.DATA_DIR) ? fs.readdirSync(topo.DATA_DIR) : []) {
            if (/^up-\d+/.test(f)) fs.rmSync(path.join(topo.DATA_DIR, f), { force: true });
        }
    }
}
