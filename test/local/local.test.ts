// `npm run up -- --local` as a user runs it (as root, on Debian 12): the site on 127.0.0.1 over HTTPS and the status
// page, a config change rolled host by host, then --destroy leaves nothing running. A data dir, prefix and port of
// its own, so a local stack someone left running here is not touched; the e2e lock for the whole run.
import { spawn } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { TLSSocket } from "tls";
import { takeE2eLock } from "../support/e2eLock";
import { removeTempDirs, tempDir } from "../support/files";
import { freePort, portOpen } from "../support/ports";
import { killPid } from "../support/processes";

const ROOT = path.resolve(__dirname, "../..");
const DIR = "/var/lib/meteor-do-local-test";
const PREFIX = "mdoltest";
const APP_COUNT = 2;

let release: (() => Promise<void>) | undefined;
let port = 0;
let configDir = "";
let destroyed = false;

interface Run {
    code: number | null;
    out: string;
}

/** `npm run up -- --local ARGS`, bounded in time; stdout and stderr together, as the user sees them. */
function up(args: string[], timeoutMs = 9 * 60e3): Promise<Run> {
    return new Promise((resolve) => {
        // npm beside this node: under sudo, PATH may not have it.
        const PATH = `${path.dirname(process.execPath)}:${process.env.PATH ?? ""}`;
        const env = { ...process.env, PATH, METEOR_DO_LOCAL_DIR: DIR, METEOR_DO_LOCAL_PREFIX: PREFIX };
        const child = spawn("npm", ["run", "--silent", "up", "--", "--local", ...args], { cwd: ROOT, env });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        const timer = setTimeout(() => killPid(child.pid), timeoutMs);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve({ code, out });
        });
    });
}

function get(urlPath: string): Promise<{ status: number; body: string; tls: boolean }> {
    return new Promise((resolve, reject) => {
        const req = https.get(
            { host: "127.0.0.1", port, path: urlPath, rejectUnauthorized: false, timeout: 10e3 },
            (res) => {
                // Read now: the agent takes the socket back before "end".
                const tls = res.socket instanceof TLSSocket && res.socket.encrypted;
                let body = "";
                res.on("data", (d) => (body += d));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body, tls }));
            },
        );
        req.on("error", reject);
        req.on("timeout", () => req.destroy(new Error(`GET ${urlPath} timed out`)));
    });
}

function writeConfig(label: string): string {
    const file = path.join(configDir, `local-${label}.yaml`);
    const settings = JSON.stringify({ public: { releaseLabel: label } });
    const lines = [
        `config:`,
        `  meteor-do:appCount: "${APP_COUNT}"`,
        `  meteor-do:stopGraceSeconds: "2"`,
        `  meteor-do:meteorSettings: '${settings}'`,
    ];
    fs.writeFileSync(file, lines.join("\n") + "\n");
    return file;
}

/** The Commands the up printed as run: "+  2.2s   5.8s  replace release-app-1-cutover". */
function commandsRan(out: string): { name: string; start: number; secs: number }[] {
    return [...out.matchAll(/^\s+\+\s*([\d.]+)s\s+([\d.]+)s\s+\w+\s+(\S+)$/gm)].map((m) => ({
        name: m[3],
        start: Number(m[1]),
        secs: Number(m[2]),
    }));
}

/** What of this stack is still on the machine: namespaces, processes, cgroups, the listener, the data dir. */
async function leftovers(): Promise<string[]> {
    const left: string[] = [];
    for (const ns of fs.existsSync("/run/netns") ? fs.readdirSync("/run/netns") : [])
        if (ns.startsWith(`${PREFIX}-`)) left.push(`netns ${ns}`);
    for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
        let cmd = "";
        try {
            cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
        } catch {
            continue;
        }
        if (cmd.includes(DIR) || cmd.includes(`${PREFIX}-`)) left.push(`process ${pid}: ${cmd.slice(0, 120)}`);
    }
    for (const h of ["systemd", "unified"]) {
        const root = `/sys/fs/cgroup/${h}`;
        for (const d of fs.existsSync(root) ? fs.readdirSync(root) : [])
            if (d.startsWith(`nspawn-${PREFIX}-`)) left.push(`cgroup ${h}/${d}`);
    }
    if (await portOpen("127.0.0.1", port)) left.push(`listener 127.0.0.1:${port}`);
    if (fs.existsSync(DIR)) left.push(`dir ${DIR}: ${fs.readdirSync(DIR).join(", ")}`);
    return left;
}

beforeAll(async () => {
    release = await takeE2eLock(1800);
    configDir = tempDir("local");
    port = await freePort();
    // A run killed before its destroy left its stack: start clean.
    if (fs.existsSync(DIR)) await up(["--destroy"]);
}, 1860e3);

afterAll(async () => {
    // Without the lock nothing of this suite ran, and nothing may run now.
    if (!release) return;
    if (!destroyed) await up(["--destroy"]);
    removeTempDirs();
    await release();
}, 120e3);

describe("npm run up -- --local", () => {
    test("serves the sample app over HTTPS on 127.0.0.1 and the status page lists every host up", async () => {
        const file = writeConfig("local-one");
        const r = await up(["--config", file, "--port", String(port)]);
        expect({ code: r.code, tail: r.out.slice(-1500) }).toEqual({ code: 0, tail: expect.any(String) });
        expect(r.out).toContain(`config: ${file}`);
        expect(r.out).toContain(`site:    https://127.0.0.1:${port}/`);

        const info = await get("/info.json");
        expect(info.tls).toBe(true);
        expect(JSON.parse(info.body)).toMatchObject({ label: "local-one", node: process.version });
        const page = await get("/");
        expect(page.status).toBe(200);
        expect(page.body).toContain('<dd id="label">local-one</dd>');

        const status = JSON.parse((await get("/check-status?format=json")).body);
        expect(status.servers.total).toBe(APP_COUNT);
        expect(status.servers.server.map((s: { status: string }) => s.status)).toEqual(Array(APP_COUNT).fill("up"));
    }, 600e3);

    test("a config change rolls the hosts one at a time, no droplet replaced", async () => {
        const r = await up(["--config", writeConfig("local-two"), "--port", String(port)]);
        expect({ code: r.code, tail: r.out.slice(-1500) }).toEqual({ code: 0, tail: expect.any(String) });
        expect(r.out).toContain("forward kept");
        const ran = commandsRan(r.out);
        const cutovers = ran.filter((c) => c.name.endsWith("-cutover"));
        expect(cutovers.map((c) => c.name).sort()).toEqual(
            Array.from({ length: APP_COUNT }, (_, i) => `release-app-${i + 1}-cutover`),
        );
        // One host at a time: each cutover starts after the one before it ended (printed to 0.1 s).
        for (let i = 1; i < cutovers.length; i++)
            expect(cutovers[i].start).toBeGreaterThanOrEqual(cutovers[i - 1].start + cutovers[i - 1].secs - 0.2);
        // Nothing of the droplets themselves ran again (no new host, no reinstalled runtime).
        expect(ran.filter((c) => /cloud-init|runtime|host-tools/.test(c.name))).toEqual([]);
        expect(JSON.parse((await get("/info.json")).body).label).toBe("local-two");
    }, 600e3);

    test("--destroy leaves no namespace, process, cgroup, listener or state behind", async () => {
        const r = await up(["--destroy"]);
        destroyed = true;
        expect({ code: r.code, out: r.out }).toEqual({ code: 0, out: expect.stringContaining("local stack removed") });
        expect(await leftovers()).toEqual([]);
    }, 180e3);
});
