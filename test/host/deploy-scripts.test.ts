// stage.sh and cutover.sh against real processes on this machine: a temporary root stands in for
// /srv/meteor and /etc/meteor, fake-service.sh for systemd (it really stops and starts the sample server),
// and fakeLb.ts for the LB admin API. The env files are rendered by components/env.ts.
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderEnvFile } from "../../components/env";
import { BUILD_USER, hostEnv } from "../support/fakeHost";
import { ROOT } from "../support/files";
import { localHostTools } from "../support/hostTools";
import { builderNpmCache } from "../support/npmCache";
import { request } from "../support/http";
import { freePort } from "../support/ports";
import { alive, killPid, run, RunResult } from "../support/processes";
import { buildBundle, Bundle, unpack } from "../support/sampleApp";
import { FakeLb, startFakeLb } from "./fakeLb";

jest.setTimeout(120_000);

const hostDir = localHostTools();
const SECRET = 'pa$$w"or`d\\x';

let tmp: string;
let appRoot: string;
let envRoot: string;
let pidFile: string;
let appPort: number;
let lb: FakeLb;
let peer: string;
const bundles: Record<string, Bundle> = {};

function envFile(label: string): string {
    return renderEnvFile({
        PORT: String(appPort),
        ROOT_URL: "https://example.test",
        METEOR_SETTINGS: JSON.stringify({ public: { releaseLabel: label }, mongoPassword: SECRET }),
        HTTP_FORWARDED_COUNT: "1",
        STOP_GRACE_SECONDS: "1",
        BIND_IP: "127.0.0.1",
    });
}

function scriptEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return { ...hostEnv({ appRoot, envRoot, stateDir: tmp, lbPort: lb.port, stopTimeoutSeconds: 5 }), ...extra };
}

function upload(b: Bundle): void {
    fs.copyFileSync(b.path, path.join(appRoot, "incoming", `${b.sha256}.tgz`));
}

function stage(b: Bundle | string, env: string, extra: Record<string, string> = {}): Promise<RunResult> {
    const sha = typeof b === "string" ? b : b.sha256;
    return run(path.join(hostDir, "stage.sh"), [sha], { env: scriptEnv(extra), stdin: env, timeoutMs: 60_000 });
}

function cutover(b: Bundle, env: string, flags: string[] = []): Promise<RunResult> {
    return run(
        path.join(hostDir, "cutover.sh"),
        [
            "--release",
            b.sha256,
            "--peer",
            peer,
            "--lb",
            "127.0.0.1",
            "--health-path",
            "/",
            "--keep",
            "3",
            "--health-timeout",
            "5",
            "--lb-timeout",
            "5",
            ...flags,
        ],
        { env: scriptEnv(), stdin: env, timeoutMs: 90_000 },
    );
}

const link = (p: string) => fs.readlinkSync(p);
const appPid = () => Number(fs.readFileSync(pidFile, "utf8"));
const info = async () => JSON.parse((await request({ url: `http://127.0.0.1:${appPort}/info.json` })).body);
const sha256 = (data: string | Buffer) => crypto.createHash("sha256").update(data).digest("hex");
const posts = () => lb.calls.filter((c) => c.method === "POST").map((c) => c.path);
const starts = () =>
    fs.existsSync(path.join(tmp, "app.log.events"))
        ? fs
              .readFileSync(path.join(tmp, "app.log.events"), "utf8")
              .trim()
              .split("\n")
              .map((l) => Number(l.split(" ")[0]) * 1000)
        : [];

/** A copy of bundle b's tarball with paths under bundle/programs/server/ removed (test variants). */
function repack(b: Bundle, name: string, remove: string): Bundle {
    const dir = path.join(tmp, `repack-${name}`);
    unpack(b.path, dir);
    fs.rmSync(path.join(dir, "bundle", "programs", "server", remove), { recursive: true, force: true });
    const out = path.join(tmp, `${name}.tgz`);
    execFileSync("bash", [
        "-c",
        'tar --sort=name --mtime=@0 --owner=0 --group=0 -C "$1" -cf - bundle | gzip -n > "$2"',
        "_",
        dir,
        out,
    ]);
    return { path: out, sha256: sha256(fs.readFileSync(out)) };
}

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-host-"));
    // The build user (nobody) reaches the releases directory, as on a host.
    fs.chmodSync(tmp, 0o755);
    appRoot = path.join(tmp, "srv", "meteor");
    envRoot = path.join(tmp, "etc", "meteor");
    fs.mkdirSync(path.join(appRoot, "releases"), { recursive: true });
    fs.mkdirSync(path.join(appRoot, "incoming"), { recursive: true });
    fs.mkdirSync(envRoot, { recursive: true });
    pidFile = path.join(tmp, "app.pid");
    appPort = await freePort();
    lb = await startFakeLb("/");
    peer = `127.0.0.1:${appPort}`;
    for (const label of ["A", "B", "D", "E"]) bundles[label] = buildBundle(path.join(tmp, `${label}.tgz`), label);
    bundles.exits = buildBundle(path.join(tmp, "exits.tgz"), "exits", "exit");
    bundles.unhealthy = buildBundle(path.join(tmp, "unhealthy.tgz"), "unhealthy", "unhealthy");
    for (const b of Object.values(bundles)) upload(b);
});

afterAll(async () => {
    if (fs.existsSync(pidFile)) killPid(appPid());
    await lb?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
});

describe("stage.sh", () => {
    test("unpacks a verified bundle into releases/<sha256> and writes the env file 0600, live release untouched", async () => {
        const r = await stage(bundles.A, envFile("env-1"));
        expect(r.code).toBe(0);
        const rel = path.join(appRoot, "releases", bundles.A.sha256);
        expect(fs.readFileSync(path.join(rel, "RELEASE"), "utf8")).toBe(`${bundles.A.sha256}\n`);
        expect(fs.existsSync(path.join(rel, "bundle", "main.js"))).toBe(true);
        expect(
            fs.existsSync(path.join(rel, "bundle", "programs", "server", "node_modules", "sockjs", "package.json")),
        ).toBe(true);
        expect(fs.statSync(rel).mode & 0o777).toBe(0o755);
        expect(fs.readdirSync(path.join(appRoot, "releases")).sort()).toEqual([bundles.A.sha256]);
        const envPath = path.join(envRoot, "env", `${sha256(envFile("env-1"))}.env`);
        expect(fs.readFileSync(envPath, "utf8")).toBe(envFile("env-1"));
        expect(fs.statSync(envPath).mode & 0o777).toBe(0o600);
        expect(fs.statSync(path.join(envRoot, "env")).mode & 0o777).toBe(0o700);
        expect(fs.existsSync(path.join(appRoot, "current"))).toBe(false);
        expect(r.stdout + r.stderr).not.toContain("mongoPassword");
    });

    test("is idempotent: a second run keeps the staged directory", async () => {
        const rel = path.join(appRoot, "releases", bundles.A.sha256);
        const inode = fs.statSync(rel).ino;
        const r = await stage(bundles.A, envFile("env-1"));
        expect(r.code).toBe(0);
        expect(r.stdout).toContain(`release ${bundles.A.sha256} already staged`);
        expect(fs.statSync(rel).ino).toBe(inode);
        expect(fs.readdirSync(path.join(envRoot, "env")).filter((f) => f.endsWith(".env"))).toHaveLength(1);
    });

    test("refuses a bundle whose sha256 differs from its name and leaves nothing staged", async () => {
        const fake = "0".repeat(63) + "1";
        fs.copyFileSync(bundles.B.path, path.join(appRoot, "incoming", `${fake}.tgz`));
        const r = await stage(fake, envFile("env-1"));
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`has sha256 ${bundles.B.sha256}, expected ${fake}`);
        expect(fs.readdirSync(path.join(appRoot, "releases"))).toEqual([bundles.A.sha256]);
    });

    test("refuses a missing upload, a bad sha and an env file that is not KEY=VALUE (without echoing it)", async () => {
        const missing = await stage("f".repeat(64), envFile("env-1"));
        expect(missing.code).toBe(1);
        expect(missing.stderr).toContain("was not uploaded");
        const bad = await stage("not-a-sha", envFile("env-1"));
        expect(bad.code).toBe(1);
        expect(bad.stderr).toContain("not a sha256: not-a-sha");
        const garbage = await stage(bundles.A, `GOOD="1"\nthis line is ${SECRET}\n`);
        expect(garbage.code).toBe(1);
        expect(garbage.stderr).toContain("env file lines 2 are not KEY=VALUE");
        expect(garbage.stderr + garbage.stdout).not.toContain(SECRET);
        const empty = await stage(bundles.A, "");
        expect(empty.code).toBe(1);
        expect(empty.stderr).toContain("no env file on stdin");
    });

    test("installs the server deps with npm when the bundle has none (offline, from npm's cache)", async () => {
        const noDeps = repack(bundles.A, "no-deps", "node_modules");
        upload(noDeps);
        const lockFile = path.join(ROOT, "sample-app", "bundle", "programs", "server", "package-lock.json");
        const cache = builderNpmCache(lockFile, path.join(tmp, "npm-cache"), BUILD_USER);
        const r = await stage(noDeps, envFile("env-1"), { npm_config_offline: "true", npm_config_cache: cache });
        expect(r.code).toBe(0);
        expect(r.stdout).toContain(`installing server deps (npm install --omit=dev, as ${BUILD_USER})`);
        const server = path.join(appRoot, "releases", noDeps.sha256, "bundle", "programs", "server");
        const resolved = execFileSync(process.execPath, ["-e", "console.log(require.resolve('sockjs'))"], {
            cwd: server,
            encoding: "utf8",
        });
        expect(resolved.trim()).toBe(path.join(server, "node_modules", "sockjs", "index.js"));
        // Built as the build user, owned by root once staged.
        expect(fs.statSync(path.join(server, "node_modules", "sockjs", "index.js")).uid).toBe(0);
        fs.rmSync(path.join(appRoot, "releases", noDeps.sha256), { recursive: true });
    });

    test("refuses a bundle whose shipped deps are incomplete", async () => {
        const broken = repack(bundles.A, "missing-dep", "node_modules/faye-websocket");
        upload(broken);
        const r = await stage(broken, envFile("env-1"));
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("server deps in the bundle are incomplete");
        expect(fs.existsSync(path.join(appRoot, "releases", broken.sha256))).toBe(false);
        expect(fs.readdirSync(path.join(appRoot, "releases")).filter((n) => n.startsWith("."))).toEqual([]);
    });
});

describe("cutover.sh", () => {
    test("first deploy: drain, switch, restart, healthy, undrain, LB up, in that order", async () => {
        lb.calls.length = 0;
        const r = await cutover(bundles.A, envFile("env-1"));
        expect(r.stderr).toBe("");
        expect(r.code).toBe(0);
        expect(posts()).toEqual([`/lb/peers/${peer}/drain`, `/lb/peers/${peer}/undrain`]);
        // No release before the first one; after it, the one now live. Node.js: what the host runs.
        expect(lb.calls.filter((c) => c.method === "POST").map((c) => c.query)).toEqual([
            `node=${process.version}`,
            `release=${bundles.A.sha256}&node=${process.version}`,
        ]);
        const drainAt = lb.calls.find((c) => c.path.endsWith("/drain"))!.at;
        const undrainAt = lb.calls.find((c) => c.path.endsWith("/undrain"))!.at;
        const [startedAt] = starts();
        expect(drainAt).toBeLessThan(startedAt);
        expect(startedAt).toBeLessThan(undrainAt);
        // The undrain's answer said the peer is up (the LB's own probe passed): no wait for the checker.
        expect(lb.calls.filter((c) => c.method === "GET" && c.at >= undrainAt)).toEqual([]);
        expect(link(path.join(appRoot, "current"))).toBe(`releases/${bundles.A.sha256}`);
        expect(link(path.join(envRoot, "app.env"))).toBe(`env/${sha256(envFile("env-1"))}.env`);
        expect(await info()).toMatchObject({ release: bundles.A.sha256, label: "env-1" });
        expect(fs.existsSync(path.join(appRoot, "previous"))).toBe(false);
        expect(r.stdout).toMatch(
            new RegExp(`cut over to ${bundles.A.sha256} in [0-9.]+s: drain=.* restart=.* health=.* undrain=.* lb-up=`),
        );
        expect(r.stdout).not.toContain("mongoPassword");
    });

    test("next release: the new process serves it and the old one becomes `previous`", async () => {
        expect((await stage(bundles.B, envFile("env-1"))).code).toBe(0);
        const oldPid = appPid();
        const r = await cutover(bundles.B, envFile("env-1"));
        expect(r.code).toBe(0);
        expect(alive(oldPid)).toBe(false);
        expect(appPid()).not.toBe(oldPid);
        expect(await info()).toMatchObject({ release: bundles.B.sha256, label: "env-1", pid: appPid() });
        expect(link(path.join(appRoot, "previous"))).toBe(`releases/${bundles.A.sha256}`);
    });

    test("an env-only change restarts the same release with the new env (the settings JSON survives escaping)", async () => {
        expect((await stage(bundles.B, envFile("env-2"))).code).toBe(0);
        const oldPid = appPid();
        const r = await cutover(bundles.B, envFile("env-2"));
        expect(r.code).toBe(0);
        expect(appPid()).not.toBe(oldPid);
        expect(await info()).toMatchObject({ release: bundles.B.sha256, label: "env-2" });
        expect(link(path.join(appRoot, "previous"))).toBe(`releases/${bundles.A.sha256}`);
        expect(link(path.join(envRoot, "previous.env"))).toBe(`env/${sha256(envFile("env-1"))}.env`);
        const envPath = path.join(envRoot, "env", `${sha256(envFile("env-2"))}.env`);
        expect(fs.statSync(envPath).mode & 0o777).toBe(0o600);
        // The app parsed the secret back exactly: the rendered file round-trips through the env-file parser.
        const environ = fs.readFileSync(`/proc/${appPid()}/environ`, "utf8").split("\0");
        const settings = environ.find((e) => e.startsWith("METEOR_SETTINGS="))!.slice("METEOR_SETTINGS=".length);
        expect(JSON.parse(settings).mongoPassword).toBe(SECRET);
    });

    test.each([
        ["exits at start", "exits"],
        ["answers 503", "unhealthy"],
    ])(
        "a release that never gets healthy (%s) is rolled back, undrained, and fails without printing secrets",
        async (_what, which) => {
            const bad = bundles[which];
            expect((await stage(bad, envFile("env-bad"))).code).toBe(0);
            lb.calls.length = 0;
            const r = await cutover(bad, envFile("env-bad"), ["--health-timeout", "3"]);
            expect(r.code).toBe(1);
            expect(r.stderr).toContain("FAILED while health: no healthy answer from http://127.0.0.1:");
            expect(r.stderr).toContain(`rolling back to ${bundles.B.sha256}`);
            expect(r.stderr).toContain("previous release is healthy again");
            expect(r.stdout + r.stderr).not.toContain("mongoPassword");
            expect(link(path.join(appRoot, "current"))).toBe(`releases/${bundles.B.sha256}`);
            expect(link(path.join(envRoot, "app.env"))).toBe(`env/${sha256(envFile("env-2"))}.env`);
            expect(await info()).toMatchObject({ release: bundles.B.sha256, label: "env-2" });
            expect(posts()).toEqual([`/lb/peers/${peer}/drain`, `/lb/peers/${peer}/undrain`]);
            // The drain names the release live before, and so does the undrain after the rollback.
            expect(lb.calls.filter((c) => c.method === "POST").map((c) => c.query)).toEqual([
                `release=${bundles.B.sha256}&node=${process.version}`,
                `release=${bundles.B.sha256}&node=${process.version}`,
            ]);
            expect(fs.existsSync(path.join(appRoot, "releases", bad.sha256, "DEPLOYED"))).toBe(false);
        },
    );

    test("when the LB refuses the drain nothing changes on the host", async () => {
        expect((await stage(bundles.D, envFile("env-2"))).code).toBe(0);
        const pid = appPid();
        lb.admin = "fail";
        try {
            const r = await cutover(bundles.D, envFile("env-2"), ["--lb-timeout", "1"]);
            expect(r.code).toBe(1);
            expect(r.stderr).toContain(
                `FAILED while drain: LB admin API at 127.0.0.1:${lb.port} did not accept drain for ${peer}`,
            );
        } finally {
            lb.admin = "ok";
        }
        expect(appPid()).toBe(pid);
        expect(alive(pid)).toBe(true);
        expect(link(path.join(appRoot, "current"))).toBe(`releases/${bundles.B.sha256}`);
    });

    test("when the LB never reports the host up the host is rolled back", async () => {
        lb.checker = "never";
        lb.calls.length = 0;
        try {
            const r = await cutover(bundles.D, envFile("env-2"), ["--lb-timeout", "2"]);
            expect(r.code).toBe(1);
            expect(r.stderr).toContain(`FAILED while lb-up: the LB did not report ${peer} up within 2s`);
        } finally {
            lb.checker = "probe";
        }
        expect(link(path.join(appRoot, "current"))).toBe(`releases/${bundles.B.sha256}`);
        expect(await info()).toMatchObject({ release: bundles.B.sha256 });
        expect(posts().at(-1)).toBe(`/lb/peers/${peer}/undrain`);
    });

    test("an undrain the LB answers with the peer still down: the cutover waits until the LB reports it up", async () => {
        lb.checker = "late";
        lb.calls.length = 0;
        try {
            // The release and env the host runs (the test before rolled back to them); a high --keep leaves
            // the releases for the clean-up test below.
            const r = await cutover(bundles.B, "", ["--env", "live", "--keep", "99"]);
            expect([r.code, r.stderr]).toEqual([0, ""]);
        } finally {
            lb.checker = "probe";
        }
        const undrainAt = lb.calls.find((c) => c.path.endsWith("/undrain"))!.at;
        expect(lb.calls.filter((c) => c.method === "GET" && c.at >= undrainAt).length).toBeGreaterThanOrEqual(1);
        expect(link(path.join(appRoot, "current"))).toBe(`releases/${bundles.B.sha256}`);
    });

    test("two LBs: drained on both before the restart, undrained on both, up on both before it ends", async () => {
        // The second LB on 127.0.0.2 (same admin port), whose undrain answers "down": the cutover must wait for it.
        const second = await startFakeLb("/", { host: "127.0.0.2", port: lb.port });
        second.checker = "late";
        lb.calls.length = 0;
        try {
            const r = await cutover(bundles.B, "", ["--env", "live", "--keep", "99", "--lb", "127.0.0.2"]);
            expect([r.code, r.stderr]).toEqual([0, ""]);
        } finally {
            await second.close();
        }
        const [startedAt] = starts().slice(-1);
        for (const each of [lb, second]) {
            const at = (suffix: string) => each.calls.find((c) => c.method === "POST" && c.path.endsWith(suffix))!.at;
            expect(each.calls.filter((c) => c.method === "POST").map((c) => c.path)).toEqual([
                `/lb/peers/${peer}/drain`,
                `/lb/peers/${peer}/undrain`,
            ]);
            expect(at("/drain")).toBeLessThan(startedAt);
            expect(startedAt).toBeLessThan(at("/undrain"));
        }
        // Only the second LB's undrain said "down": the cutover asked it (and only it) until it said up.
        const undrainAt = second.calls.find((c) => c.path.endsWith("/undrain"))!.at;
        expect(second.calls.filter((c) => c.method === "GET" && c.at >= undrainAt).length).toBeGreaterThanOrEqual(1);
        expect(lb.calls.filter((c) => c.method === "GET" && c.at >= undrainAt)).toEqual([]);
    });

    test("an unexpected error after the switch (here: `previous` is a directory) also rolls back", async () => {
        const previous = path.join(appRoot, "previous");
        const target = link(previous);
        fs.rmSync(previous);
        fs.mkdirSync(path.join(previous, "in-the-way"), { recursive: true });
        try {
            const r = await cutover(bundles.D, envFile("env-2"));
            expect(r.code).toBe(1);
            expect(r.stderr).toMatch(/FAILED while recording previous release: unexpected error at line \d+/);
            expect(r.stderr).toContain(`rolling back to ${bundles.B.sha256}`);
        } finally {
            fs.rmSync(previous, { recursive: true });
            fs.symlinkSync(target, previous);
        }
        expect(link(path.join(appRoot, "current"))).toBe(`releases/${bundles.B.sha256}`);
        expect(await info()).toMatchObject({ release: bundles.B.sha256 });
        expect(posts().at(-1)).toBe(`/lb/peers/${peer}/undrain`);
    });

    test("keeps the newest --keep releases that went live (plus current and previous) and removes the rest", async () => {
        // keep 3 after D: D, B, A went live (newest first); exits and unhealthy never did, so they go.
        const d = await cutover(bundles.D, envFile("env-2"));
        expect(d.code).toBe(0);
        expect(d.stdout).toContain("removed 2 old release(s)");
        expect(fs.readdirSync(path.join(appRoot, "releases")).sort()).toEqual(
            [bundles.A.sha256, bundles.B.sha256, bundles.D.sha256].sort(),
        );
        expect((await stage(bundles.E, envFile("env-3"))).code).toBe(0);
        const r = await cutover(bundles.E, envFile("env-3"));
        expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
        expect(r.stdout).toContain("removed 1 old release(s)");
        // Live order: E (current), D (previous), B; A went live earlier; exits/unhealthy never did.
        expect(fs.readdirSync(path.join(appRoot, "releases")).sort()).toEqual(
            [bundles.B.sha256, bundles.D.sha256, bundles.E.sha256].sort(),
        );
        for (const gone of ["A", "exits", "unhealthy"]) {
            expect(fs.existsSync(path.join(appRoot, "incoming", `${bundles[gone].sha256}.tgz`))).toBe(false);
        }
        expect(fs.existsSync(path.join(appRoot, "incoming", `${bundles.E.sha256}.tgz`))).toBe(true);
        expect(link(path.join(appRoot, "previous"))).toBe(`releases/${bundles.D.sha256}`);
        const envs = fs.readdirSync(path.join(envRoot, "env")).filter((f) => f.endsWith(".env"));
        expect(envs).toHaveLength(3);
        expect(envs).toContain(`${sha256(envFile("env-3"))}.env`);
        expect(envs).toContain(`${sha256(envFile("env-2"))}.env`);
        for (const f of envs) expect(fs.statSync(path.join(envRoot, "env", f)).mode & 0o777).toBe(0o600);
        expect(await info()).toMatchObject({ release: bundles.E.sha256, label: "env-3" });
    });
});
