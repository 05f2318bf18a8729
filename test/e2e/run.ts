// `npm run e2e`: the unmodified program, under the mocks of mocks.ts, against a local DigitalOcean-shaped
// topology of booted Debian 12 hosts (topology.ts), through the six steps of the scenario below.
//   npm run e2e               run the scenario, then tear everything down
//   npm run e2e -- --keep     run it and leave the topology up; writes topology.json
//   npm run e2e -- --down     stop every host and server and remove every namespace it made
// The last line of output is one JSON object with the figures.
import { execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { sha256File } from "../../components/hash";
import { MOCK_STATE, runIn } from "./mocks";
import { buildNodeDist, NODE_VERSION, serveNodeDist } from "./nodeDist";
import * as topo from "./topology";
import type { UpResult } from "./up";

const ROOT = path.resolve(__dirname, "..", "..");
const VPC_RANGE = "10.10.0.0/24";
const STACK = "e2e";
const APP_COUNT = 3;
const APP_PORT = 3000;
const TOPOLOGY_JSON = path.join(ROOT, "topology.json");
const MONGO_SECRET = "mongodb://e2e-user:e2e-secret-7f3a@10.10.0.254:27017/e2e";
const argv = process.argv.slice(2);
const started = Date.now();

const figures: Record<string, any> = {
    hosts: 0,
    commands: { run: 0, total: 0 },
    userDataBooted: 0,
    failedRequests: {} as Record<string, number>,
    detectionMs: null,
    cutoverMs: {} as Record<string, number>,
    image: {},
    steps: {} as Record<string, string>,
    wallSeconds: 0,
};
const problems: string[] = [];
let step = ""; // the scenario step running now (an abort marks it failed)

function log(msg: string): void {
    process.stderr.write(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
}

/** A failed check is recorded against its step and the scenario goes on where it still can. */
function check(step: string, ok: boolean, what: string): boolean {
    if (!ok) {
        problems.push(`${step}: ${what}`);
        figures.steps[step] = "fail";
        log(`FAIL ${step}: ${what}`);
    } else {
        log(`ok   ${step}: ${what}`);
    }
    return ok;
}

// ---------------------------------------------------------------------------------------- helpers
let programEntry = path.join(ROOT, "index.ts");

/**
 * Every `up` of one scenario runs the same program: a copy taken at the start (the working tree may
 * change under a long run). Templates and host scripts are read relative to the code, so they come along.
 */
function snapshotProgram(): string {
    const dir = path.join(topo.DATA_DIR, "program");
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    for (const entry of ["index.ts", "Pulumi.yaml", "package.json", "tsconfig.json", "components", "lib", "nginx"]) {
        if (fs.existsSync(path.join(ROOT, entry)))
            fs.cpSync(path.join(ROOT, entry), path.join(dir, entry), { recursive: true });
    }
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
    // METEOR_DO_E2E_OVERLAY=DIR: files laid over the copy, to try a fix locally before it lands.
    const overlay = process.env.METEOR_DO_E2E_OVERLAY;
    if (overlay) {
        fs.cpSync(path.resolve(overlay), dir, { recursive: true });
        log(`program overlay ${overlay} applied: this run does NOT test the unmodified program`);
        figures.programOverlay = overlay;
    }
    return path.join(dir, "index.ts");
}

let upCount = 0;
async function up(label: string, config: Record<string, string>): Promise<UpResult & { ms: number }> {
    const n = ++upCount;
    const request = path.join(topo.DATA_DIR, `up-${n}.json`);
    const resultFile = path.join(topo.DATA_DIR, `up-${n}-result.json`);
    const logFile = path.join(topo.DATA_DIR, `up-${n}.log`);
    fs.rmSync(resultFile, { force: true });
    const program = programEntry;
    fs.writeFileSync(request, JSON.stringify({ stack: STACK, config, secretKeys: ["mongoUrl"], resultFile, program }), {
        mode: 0o600,
    });
    const t = Date.now();
    log(`up #${n} (${label}) ...`);
    const out = fs.openSync(logFile, "w", 0o600);
    const child = spawn(
        process.execPath,
        ["-r", "ts-node/register/transpile-only", path.join(__dirname, "up.ts"), request],
        {
            cwd: path.dirname(program),
            stdio: ["ignore", out, out],
        },
    );
    fs.closeSync(out);
    const timer = setTimeout(() => {
        try {
            process.kill(child.pid!, "SIGKILL");
        } catch {
            /* gone */
        }
    }, 12 * 60e3);
    await new Promise((r) => child.on("close", r));
    clearTimeout(timer);
    const result: UpResult = fs.existsSync(resultFile)
        ? JSON.parse(fs.readFileSync(resultFile, "utf8"))
        : { ok: false, journal: [], errors: [`up exited without a result; see ${logFile}`] };
    const cmds = result.journal.filter((j) => j.type.startsWith("command:remote:"));
    const ran = cmds.filter((j) => j.action !== "same").length;
    figures.commands.run += ran;
    figures.commands.total += cmds.length;
    (figures.commandsPerUp ??= {})[label] = `${ran}/${cmds.length}`;
    log(
        `up #${n} ${result.ok ? "succeeded" : "FAILED"} in ${((Date.now() - t) / 1000).toFixed(1)} s: ${ran}/${cmds.length} commands ran`,
    );
    for (const e of result.errors) log(`  error: ${e.split("\n").slice(0, 12).join("\n    ")}`);
    return { ...result, ms: Date.now() - t };
}

function hosts(): topo.HostRecord[] {
    return Object.values(topo.loadState()!.hosts);
}
function lbHost(): topo.HostRecord {
    const h = hosts().find((x) => x.extraPublicIps.length > 0);
    if (!h) throw new Error("no droplet holds the reserved IP");
    return h;
}
function appHosts(): topo.HostRecord[] {
    return hosts()
        .filter((h) => h.extraPublicIps.length === 0)
        .sort((a, b) => a.name.localeCompare(b.name, "en", { numeric: true }));
}

function curl(args: string[], source?: string) {
    return runIn(topo.CLIENT_NS, [
        "curl",
        "-sS",
        "--max-time",
        "10",
        ...(source ? ["--interface", source] : []),
        ...args,
    ]);
}

function sh(host: topo.HostRecord, script: string) {
    return topo.hostExec(host, ["bash", "-c", script]);
}

function currentRelease(host: topo.HostRecord): string {
    return sh(host, "readlink /srv/meteor/current || true")
        .stdout.trim()
        .replace(/^releases\//, "");
}

async function lbPeer(peer: string): Promise<{ status?: string; draining?: boolean }> {
    const r = sh(lbHost(), `curl -sS --max-time 2 http://127.0.0.1:8181/lb/peers/${peer}`);
    try {
        return JSON.parse(r.stdout);
    } catch {
        return {};
    }
}

async function waitFor(
    what: string,
    timeoutMs: number,
    test: () => Promise<boolean> | boolean,
    everyMs = 250,
): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
        if (await test()) return true;
        await topo.sleep(everyMs);
    }
    log(`timed out after ${timeoutMs} ms waiting for ${what}`);
    return false;
}

interface LoadSummary {
    requests: number;
    failed: number;
    failures: string[];
    hostsByAddress: Record<string, Record<string, number>>;
    ddp: any[];
}

/** Load generator + DDP clients in the client namespace; stop() returns its summary. */
async function startLoad(site: string, ddpCount: number): Promise<{ stop: () => Promise<LoadSummary> }> {
    const addresses = topo.clientAddresses();
    const opts = {
        host: site,
        addresses: addresses.slice(0, 20),
        ddpAddresses: addresses.slice(20, 20 + ddpCount),
        intervalMs: 100,
    };
    const child = spawn(
        "ip",
        [
            "netns",
            "exec",
            topo.CLIENT_NS,
            process.execPath,
            "-r",
            "ts-node/register/transpile-only",
            path.join(__dirname, "load.ts"),
            JSON.stringify(opts),
        ],
        { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    const ready = await waitFor("load generator ready", 30000, () => out.includes("ready\n"), 100);
    if (!ready) {
        try {
            process.kill(child.pid!, "SIGKILL");
        } catch {
            /* gone */
        }
        throw new Error("load generator did not start");
    }
    await topo.sleep(1000); // steady state before the change
    return {
        stop: async () => {
            child.stdin.end("stop\n");
            const closed = await waitFor("load generator exit", 20000, () => child.exitCode !== null, 100);
            if (!closed) {
                try {
                    process.kill(child.pid!, "SIGKILL");
                } catch {
                    /* gone */
                }
            }
            const line = out.trim().split("\n").pop() ?? "{}";
            return JSON.parse(line);
        },
    };
}

function buildBundle(name: string, extra: string[]): Promise<string> {
    const out = path.join(topo.DATA_DIR, "bundles", `${name}.tgz`);
    fs.mkdirSync(path.dirname(out), { recursive: true });
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(ROOT, "sample-app", "build.js"), "--out", out, ...extra], {
            cwd: ROOT,
            stdio: ["ignore", "ignore", "inherit"],
        });
        child.on("close", (code) =>
            code === 0 ? resolve(out) : reject(new Error(`sample bundle ${name} failed (${code})`)),
        );
    });
}

function writeTopologyJson(outputs: any, keyFile: string): void {
    const lb = lbHost();
    const sshOpts = `-i ${keyFile} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
    const json = {
        clientNamespace: topo.CLIENT_NS,
        vpcNamespace: topo.VPC_NS,
        vpcIpRange: VPC_RANGE,
        site: outputs?.siteUrl,
        checkStatus: outputs?.checkStatusUrl,
        lbPublicIp: outputs?.lbReservedIp,
        ssh: {
            user: "deploy",
            keyFile,
            // Host keys are new on every boot, so they are not pinned here.
            lb: `ip netns exec ${topo.CLIENT_NS} ssh ${sshOpts} deploy@${outputs?.lbReservedIp}`,
            app: `ip netns exec ${topo.CLIENT_NS} ssh ${sshOpts} -o ProxyCommand='ssh ${sshOpts} -W %h:%p deploy@${outputs?.lbReservedIp}' deploy@${appHosts()[0]?.privateIp}`,
        },
        hosts: hosts().map((h) => ({
            name: h.name,
            role: h.name === lb.name ? "lb" : "app",
            netns: h.netns,
            privateIp: h.privateIp,
            publicIp: h.publicIp,
            reservedIps: h.extraPublicIps,
            nspawnPid: h.pid,
        })),
        clientAddresses: topo.clientAddresses(),
    };
    fs.writeFileSync(TOPOLOGY_JSON, JSON.stringify(json, null, 2) + "\n");
}

/** The deploy key from the mock engine's state (0600), for logging in by hand with --keep. */
function exportDeployKey(): string {
    const engine = JSON.parse(fs.readFileSync(MOCK_STATE, "utf8"));
    const key = Object.entries<any>(engine.resources).find(
        ([k, r]) => k.startsWith("tls:index/privateKey:PrivateKey::") && r.state.privateKeyOpenssh,
    )?.[1];
    const file = path.join(topo.DATA_DIR, "deploy_key");
    if (key) fs.writeFileSync(file, key.state.privateKeyOpenssh, { mode: 0o600 });
    return file;
}

// ---------------------------------------------------------------------------------------- scenario
/** Plain, early errors for what the harness cannot work without. */
function preflight(): void {
    if (process.getuid?.() !== 0)
        throw new Error("run as root: the topology needs network namespaces and systemd-nspawn");
    const missing = [
        "systemd-nspawn",
        "debootstrap",
        "ip",
        "nsenter",
        "ssh",
        "scp",
        "curl",
        "xz",
        "/usr/bin/python3",
    ].filter((tool) => spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status !== 0);
    if (missing.length)
        throw new Error(
            `missing ${missing.join(", ")}: apt-get install -y systemd-container debootstrap iproute2 util-linux openssh-client curl xz-utils python3`,
        );
}

async function scenario(): Promise<void> {
    preflight();
    // Fresh start: anything left from an earlier run (by its own state file) goes first.
    await topo.teardown();
    fs.rmSync(MOCK_STATE, { force: true });
    fs.rmSync(TOPOLOGY_JSON, { force: true });
    for (const f of fs.existsSync(topo.DATA_DIR) ? fs.readdirSync(topo.DATA_DIR) : []) {
        if (/^up-\d+/.test(f)) fs.rmSync(path.join(topo.DATA_DIR, f), { force: true });
    }

    programEntry = snapshotProgram();
    let t = Date.now();
    const imageKey = execFileSync("bash", [path.join(__dirname, "image.sh"), "--key"], { encoding: "utf8" }).trim();
    const cacheRoot = process.env.METEOR_DO_E2E_CACHE ?? "/var/cache/meteor-do-e2e";
    const cached = fs.existsSync(path.join(cacheRoot, imageKey, "ready"));
    const image = execFileSync("bash", [path.join(__dirname, "image.sh")], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
    }).trim();
    figures.image = { key: imageKey, cached, seconds: Math.round((Date.now() - t) / 100) / 10 };
    log(`image ${image} (${cached ? "cached" : "built"})`);

    t = Date.now();
    const state = topo.createNetwork(image, VPC_RANGE);
    const [distRoot, v1, v2, broken] = await Promise.all([
        Promise.resolve(buildNodeDist()),
        buildBundle("v1", ["--release", "e2e-v1"]),
        buildBundle("v2", ["--release", "e2e-v2"]),
        buildBundle("broken", ["--release", "e2e-broken", "--broken=unhealthy"]),
    ]);
    const nodeDistUrl = await serveNodeDist(topo.loadState()!, distRoot);
    figures.prepareSeconds = Math.round((Date.now() - t) / 100) / 10;
    const sha = { v1: sha256File(v1), v2: sha256File(v2), broken: sha256File(broken) };
    log(
        `network, Node ${NODE_VERSION} mirror at ${nodeDistUrl}, bundles v1 ${sha.v1.slice(0, 12)} v2 ${sha.v2.slice(0, 12)} broken ${sha.broken.slice(0, 12)}`,
    );

    const config = (bundle: string, appEnv: Record<string, string> = {}): Record<string, string> => ({
        appCount: String(APP_COUNT),
        vpcIpRange: VPC_RANGE,
        nodeVersion: NODE_VERSION,
        nodeDistUrl,
        adminCidrs: JSON.stringify(["198.18.0.0/15", "203.0.113.0/24"]),
        bundle,
        appPort: String(APP_PORT),
        stopGraceSeconds: "5",
        cutoverTimeoutSeconds: "20",
        mongoUrl: MONGO_SECRET,
        appEnv: JSON.stringify(appEnv),
    });

    // 1. fresh up ---------------------------------------------------------------------------------
    step = "1-fresh-up";
    figures.steps[step] = "pass";
    const r1 = await up("fresh", config(v1));
    if (!check(step, r1.ok, "the first up succeeds")) throw new Error("first up failed; nothing to test on");
    figures.upSeconds = { fresh: Math.round(r1.ms / 100) / 10 };
    const site = String(r1.outputs.lbReservedIp);
    const apps = appHosts();
    figures.hosts = hosts().length;
    check(
        step,
        apps.length === APP_COUNT && figures.hosts === APP_COUNT + 1,
        `${APP_COUNT} app hosts + 1 LB booted (got ${figures.hosts})`,
    );
    for (const h of hosts()) {
        const s = topo.hostExec(h, ["cloud-init", "status"]).stdout;
        check(step, /status: done/.test(s), `cloud-init done on ${h.name} (${s.trim()})`);
    }
    // Verified against the certificate the stack made (no -k): TLS terminates on the LB with it.
    const certFile = path.join(topo.DATA_DIR, "site-cert.pem");
    const engine1 = JSON.parse(fs.readFileSync(MOCK_STATE, "utf8"));
    const cert = Object.entries<any>(engine1.resources).find(([k]) =>
        k.startsWith("tls:index/selfSignedCert:SelfSignedCert::"),
    )?.[1];
    fs.writeFileSync(certFile, cert?.state.certPem ?? "");
    const page = await curl(["--cacert", certFile, "-w", "\n%{http_code} %{http_version}", `https://${site}/`]);
    check(
        step,
        /\n200 2$/.test(page.stdout) && page.stdout.includes("meteor-do sample app"),
        `HTTPS / serves the sample app over HTTP/2 with the stack's certificate (${page.stdout.split("\n").pop()} ${page.stderr.trim()})`,
    );
    const info = await curl(["-k", `https://${site}/info.json`]);
    check(step, info.stdout.includes(sha.v1), "the site serves release v1");
    const redirect = await curl([
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        `http://${site}/some/page?x=1`,
    ]);
    check(step, /^30[18] https:\/\//.test(redirect.stdout), `http:// redirects to https:// (${redirect.stdout})`);
    const sticky = await Promise.all(
        topo
            .clientAddresses()
            .slice(0, 24)
            .map(async (a) => {
                const seen = new Set<string>();
                for (let i = 0; i < 4; i++) {
                    const r = await curl(["-k", `https://${site}/info.json`], a);
                    try {
                        seen.add(JSON.parse(r.stdout).host);
                    } catch {
                        seen.add(`error:${r.stderr.trim()}`);
                    }
                }
                return [...seen];
            }),
    );
    const stuck = sticky.filter((s) => s.length === 1 && !s[0].startsWith("error")).length;
    const spread = new Set(sticky.flat()).size;
    check(step, stuck === 24, `24 client addresses each stick to one host (${stuck} did)`);
    check(step, spread >= 2, `the 24 addresses spread over more than one host (${spread})`);
    const status = await curl(["-k", `https://${site}/check-status?format=json`], topo.clientAddresses()[0]);
    let servers: any[] = [];
    try {
        servers = JSON.parse(status.stdout).servers.server;
    } catch {
        /* checked below */
    }
    check(
        step,
        servers.length === APP_COUNT && servers.every((s) => s.status === "up"),
        `status page lists ${APP_COUNT} peers up (${servers.map((s) => `${s.name}=${s.status}`).join(" ") || status.stdout.slice(0, 200)})`,
    );

    // 2. a new bundle under load ------------------------------------------------------------------
    step = "2-new-bundle-under-load";
    figures.steps[step] = "pass";
    let load = await startLoad(site, 6);
    const r2 = await up("bundle v2", config(v2));
    let summary = await load.stop();
    figures.failedRequests[step] = summary.failed;
    figures.requests = { [step]: summary.requests };
    check(step, r2.ok, "the up succeeds");
    check(
        step,
        summary.failed === 0 && summary.requests > 100,
        `0 failed requests of ${summary.requests} (${summary.failures.slice(0, 3).join("; ")})`,
    );
    for (const h of appHosts()) check(step, currentRelease(h) === sha.v2, `${h.name} is on release v2`);
    const resubscribed = summary.ddp.filter((d) => d.resubscribed >= 1).length;
    check(
        step,
        resubscribed === summary.ddp.length && summary.ddp.length === 6,
        `every DDP client reconnected and resubscribed (${resubscribed}/${summary.ddp.length}; hosts seen ${summary.ddp.map((d) => d.hosts.join(">")).join(", ")})`,
    );
    for (const j of r2.journal.filter((x) => x.name.endsWith("-cutover") && x.action !== "same"))
        figures.cutoverMs[j.name.replace(/^release-|-cutover$/g, "")] = j.ms;
    check(
        step,
        Object.keys(figures.cutoverMs).length === APP_COUNT,
        `a cutover ran on each of the ${APP_COUNT} hosts (${JSON.stringify(figures.cutoverMs)})`,
    );

    // 3. a broken bundle ----------------------------------------------------------------------------
    step = "3-broken-bundle";
    figures.steps[step] = "pass";
    load = await startLoad(site, 0);
    const r3 = await up("broken bundle", config(broken));
    summary = await load.stop();
    figures.failedRequests[step] = summary.failed;
    check(step, !r3.ok, "the up fails");
    const failedCutovers = r3.journal
        .filter((j) => j.name.endsWith("-cutover") && j.action === "failed")
        .map((j) => j.name);
    const ranCutovers = r3.journal.filter((j) => j.name.endsWith("-cutover") && j.action !== "same").map((j) => j.name);
    check(
        step,
        failedCutovers.length === 1 && /app-1-cutover$/.test(failedCutovers[0]) && ranCutovers.length === 1,
        `only the first host's cutover ran, and it failed (${ranCutovers.join(", ")})`,
    );
    const releases = appHosts().map((h) => currentRelease(h));
    check(
        step,
        releases.every((r) => r === sha.v2),
        `every host (the first rolled back, the others untouched) is on v2 (${releases.map((r) => r.slice(0, 12)).join(" ")})`,
    );
    check(
        step,
        summary.failed === 0 && summary.requests > 50,
        `0 failed requests of ${summary.requests} (${summary.failures.slice(0, 3).join("; ")})`,
    );
    let peers3: { status?: string; draining?: boolean }[] = [];
    await waitFor("every peer up after the rollback", 15000, async () => {
        peers3 = await Promise.all(appHosts().map((h) => lbPeer(`${h.privateIp}:${APP_PORT}`)));
        return peers3.every((p) => p.status === "up" && p.draining === false);
    });
    check(
        step,
        peers3.every((p) => p.status === "up" && p.draining === false),
        `every peer up and not draining after the rollback (${JSON.stringify(peers3)})`,
    );
    // The operator points the stack back at the good bundle: v2 is re-uploaded and re-staged (the engine
    // sees those inputs change back), but no host rolls, because every cutover's state is still v2.
    const r3b = await up("revert to v2", config(v2));
    const revertCutovers = r3b.journal.filter((j) => j.name.endsWith("-cutover") && j.action !== "same").length;
    check(
        step,
        r3b.ok && revertCutovers === 0,
        `reverting the config to v2 succeeds without rolling any host (${revertCutovers} cutovers ran)`,
    );

    // 4. the app stopped on one host ----------------------------------------------------------------
    step = "4-app-stopped";
    figures.steps[step] = "pass";
    load = await startLoad(site, 3);
    const victim = appHosts()[1];
    const peer = `${victim.privateIp}:${APP_PORT}`;
    const stoppedAt = Date.now();
    sh(victim, "systemctl stop --no-block meteor-app");
    let downAt = 0;
    await waitFor(
        `${peer} marked down`,
        10000,
        async () => {
            if ((await lbPeer(peer)).status === "down") {
                downAt = Date.now();
                return true;
            }
            return false;
        },
        25,
    );
    figures.detectionMs = downAt ? downAt - stoppedAt : null;
    await topo.sleep(2000);
    summary = await load.stop();
    figures.failedRequests[step] = summary.failed;
    check(
        step,
        downAt > 0 && figures.detectionMs <= 1500,
        `the checker marks the stopped host down within 1.5 s (${figures.detectionMs} ms)`,
    );
    check(
        step,
        summary.failed === 0 && summary.requests > 50,
        `0 failed requests of ${summary.requests} (${summary.failures.slice(0, 3).join("; ")})`,
    );
    sh(victim, "systemctl start meteor-app");
    check(
        step,
        await waitFor(`${peer} up again`, 30000, async () => (await lbPeer(peer)).status === "up"),
        "the host comes back up after the app starts",
    );

    // 5. the LB host rebooted -----------------------------------------------------------------------
    step = "5-lb-reboot";
    figures.steps[step] = "pass";
    const confHash = (h: topo.HostRecord) =>
        sh(
            h,
            "find /etc/nginx /etc/meteor-do -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum",
        ).stdout.trim();
    const before = confHash(lbHost());
    t = Date.now();
    await topo.rebootHost(lbHost().name);
    const back = await waitFor(
        "the site after the LB reboot",
        60000,
        async () =>
            (await curl(["-k", "-o", "/dev/null", "-w", "%{http_code}", `https://${site}/info.json`])).stdout === "200",
    );
    figures.lbRebootMs = Date.now() - t;
    check(step, back, `the site serves again after the reboot (${figures.lbRebootMs} ms)`);
    check(
        step,
        sh(lbHost(), "systemctl is-active nginx").stdout.trim() === "active",
        "nginx is active after the reboot",
    );
    check(step, confHash(lbHost()) === before && before.length > 0, "nginx config and Lua identical after the reboot");
    const allUp = await waitFor("all peers up after the reboot", 15000, async () => {
        const p = await Promise.all(appHosts().map((h) => lbPeer(`${h.privateIp}:${APP_PORT}`)));
        return p.every((x) => x.status === "up");
    });
    check(step, allUp, "all peers up after the reboot");

    // 6. an env-only change -------------------------------------------------------------------------
    step = "6-env-only-change";
    figures.steps[step] = "pass";
    const incomingBefore = appHosts().map(
        (h) => sh(h, "stat -c %Y:%i /srv/meteor/incoming/*.tgz | sort | tr '\\n' ' '").stdout,
    );
    load = await startLoad(site, 0);
    const r6 = await up("env only", config(v2, { E2E_MARK: "step6" }));
    summary = await load.stop();
    figures.failedRequests[step] = summary.failed;
    check(step, r6.ok, "the up succeeds");
    const uploads = r6.journal.filter((j) => j.type === "command:remote:CopyToRemote" && j.action !== "same").length;
    const cutovers6 = r6.journal.filter((j) => j.name.endsWith("-cutover") && j.action !== "same").length;
    check(step, uploads === 0, `no bundle re-uploaded (${uploads} CopyToRemote ran)`);
    check(step, cutovers6 === APP_COUNT, `every host rolled (${cutovers6} cutovers ran)`);
    const incomingAfter = appHosts().map(
        (h) => sh(h, "stat -c %Y:%i /srv/meteor/incoming/*.tgz | sort | tr '\\n' ' '").stdout,
    );
    check(
        step,
        JSON.stringify(incomingBefore) === JSON.stringify(incomingAfter),
        "the uploaded bundles on the hosts are untouched",
    );
    for (const h of appHosts()) {
        const env = sh(
            h,
            "pid=$(systemctl show -p MainPID --value meteor-app); tr '\\0' '\\n' < /proc/$pid/environ | grep -c '^E2E_MARK=step6$' || true",
        ).stdout.trim();
        check(step, env === "1" && currentRelease(h) === sha.v2, `${h.name} runs v2 with the new env`);
    }
    check(step, summary.failed === 0, `0 failed requests of ${summary.requests}`);

    // Secrets: the Mongo URL went to the hosts on stdin; no Command printed it.
    const engine = fs.readFileSync(MOCK_STATE, "utf8");
    const printed = Object.values<any>(JSON.parse(engine).resources).filter((r) =>
        `${r.state?.stdout ?? ""}${r.state?.stderr ?? ""}`.includes("e2e-secret-7f3a"),
    ).length;
    check(step, printed === 0, "no Command output contains the secret Mongo URL");
    const envMode = sh(appHosts()[0], "stat -L -c %a /etc/meteor/app.env").stdout.trim();
    check(step, envMode === "600", `the env file is 0600 (${envMode})`);

    if (argv.includes("--keep")) writeTopologyJson(r6.outputs ?? r1.outputs, exportDeployKey());
}

async function main(): Promise<void> {
    // Interrupted: stop what we started (by PID, via the state file) unless asked to keep it.
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.once(signal, () => {
            log(
                `${signal}: ${argv.includes("--keep") ? "leaving the topology up (npm run e2e -- --down)" : "tearing down"}`,
            );
            void (argv.includes("--keep") ? Promise.resolve() : topo.teardown()).finally(() => process.exit(130));
        });
    }
    if (argv.includes("--down")) {
        await topo.teardown();
        fs.rmSync(MOCK_STATE, { force: true });
        fs.rmSync(TOPOLOGY_JSON, { force: true });
        fs.rmSync(path.join(topo.DATA_DIR, "deploy_key"), { force: true });
        for (const d of ["program", "bundles"])
            fs.rmSync(path.join(topo.DATA_DIR, d), { recursive: true, force: true });
        for (const f of fs.existsSync(topo.DATA_DIR) ? fs.readdirSync(topo.DATA_DIR) : []) {
            if (/^up-\d+/.test(f)) fs.rmSync(path.join(topo.DATA_DIR, f), { force: true });
        }
        log("topology removed");
        return;
    }
    try {
        await scenario();
    } catch (e) {
        problems.push(`aborted${step ? ` in ${step}` : ""}: ${e instanceof Error ? e.message : String(e)}`);
        if (step) figures.steps[step] = "fail";
        log(`ABORTED: ${e instanceof Error ? e.stack : String(e)}`);
    } finally {
        const last = topo.loadState();
        figures.userDataBooted = last?.userDataBooted ?? figures.userDataBooted;
        figures.hosts = last ? Object.keys(last.hosts).length : figures.hosts;
        if (!argv.includes("--keep")) {
            await topo.teardown();
            fs.rmSync(MOCK_STATE, { force: true });
        } else if (fs.existsSync(TOPOLOGY_JSON)) {
            log(`topology left running; see ${TOPOLOGY_JSON}; remove it with npm run e2e -- --down`);
        }
    }
    figures.wallSeconds = Math.round((Date.now() - started) / 100) / 10;
    figures.ok = problems.length === 0;
    figures.problems = problems;
    process.stdout.write(JSON.stringify(figures) + "\n");
    process.exitCode = problems.length === 0 ? 0 : 1;
}

void main();
