// cutover.sh as `npm run ops -- rollback` and a recorded rollback use it, against real processes on this
// machine (fake-service.sh for systemd, fakeLb.ts for the LB): `--env live` goes back to a kept release
// with the env the host runs (nothing on stdin), and `--when changed` leaves a host alone when it already
// runs the release with that env.
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderEnvFile } from "../../components/env";
import { hostEnv, makeHostRoot } from "../support/fakeHost";
import { localHostTools } from "../support/hostTools";
import { request } from "../support/http";
import { freePort } from "../support/ports";
import { killPid, run, RunResult } from "../support/processes";
import { buildBundle, Bundle } from "../support/sampleApp";
import { FakeLb, startFakeLb } from "./fakeLb";

jest.setTimeout(120_000);

const hostDir = localHostTools();
let tmp: string;
let appRoot: string;
let envRoot: string;
let appPort: number;
let lb: FakeLb;
let peer: string;
const bundles: Record<string, Bundle> = {};

const envFile = (label: string) =>
    renderEnvFile({
        PORT: String(appPort),
        ROOT_URL: "https://example.test",
        METEOR_SETTINGS: JSON.stringify({ public: { releaseLabel: label } }),
        STOP_GRACE_SECONDS: "1",
        BIND_IP: "127.0.0.1",
    });
const env = () => hostEnv({ appRoot, envRoot, stateDir: tmp, lbPort: lb.port, stopTimeoutSeconds: 5 });
const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
const link = (p: string) => fs.readlinkSync(p);
const appPid = () => Number(fs.readFileSync(path.join(tmp, "app.pid"), "utf8"));
const info = async () => JSON.parse((await request({ url: `http://127.0.0.1:${appPort}/info.json` })).body);
const posts = () => lb.calls.filter((c) => c.method === "POST").map((c) => c.path);

function cutover(b: Bundle, stdin: string, flags: string[] = []): Promise<RunResult> {
    const args = ["--release", b.sha256, "--peer", peer, "--lb", "127.0.0.1", "--health-timeout", "5"];
    return run(path.join(hostDir, "cutover.sh"), [...args, "--lb-timeout", "5", ...flags], {
        env: env(),
        stdin,
        timeoutMs: 90_000,
    });
}

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-rollback-"));
    ({ appRoot, envRoot } = makeHostRoot(tmp));
    appPort = await freePort();
    lb = await startFakeLb("/");
    peer = `127.0.0.1:${appPort}`;
    for (const label of ["A", "B"]) {
        bundles[label] = buildBundle(path.join(tmp, `${label}.tgz`), label);
        fs.copyFileSync(bundles[label].path, path.join(appRoot, "incoming", `${bundles[label].sha256}.tgz`));
        const staged = await run(path.join(hostDir, "stage.sh"), [bundles[label].sha256], {
            env: env(),
            stdin: envFile("env-1"),
            timeoutMs: 60_000,
        });
        expect(staged.code).toBe(0);
    }
});

afterAll(async () => {
    if (fs.existsSync(path.join(tmp, "app.pid"))) killPid(appPid());
    await lb?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
});

test("--env live before any env is live: refused, nothing touched", async () => {
    const r = await cutover(bundles.A, "", ["--env", "live"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--env live: no live env to keep");
    expect(fs.existsSync(path.join(appRoot, "current"))).toBe(false);
    expect(posts()).toEqual([]);
});

test("--env live: back to a kept release through the gate, with the live env and nothing on stdin", async () => {
    expect((await cutover(bundles.A, envFile("env-1"))).code).toBe(0);
    expect((await cutover(bundles.B, envFile("env-1"))).code).toBe(0);
    const liveEnv = link(path.join(envRoot, "app.env"));
    const pid = appPid();
    lb.calls.length = 0;
    const r = await cutover(bundles.A, "", ["--env", "live"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(posts()).toEqual([`/lb/peers/${peer}/drain`, `/lb/peers/${peer}/undrain`]);
    expect(appPid()).not.toBe(pid);
    expect(link(path.join(appRoot, "current"))).toBe(`releases/${bundles.A.sha256}`);
    expect(link(path.join(appRoot, "previous"))).toBe(`releases/${bundles.B.sha256}`);
    expect(link(path.join(envRoot, "app.env"))).toBe(liveEnv);
    expect(await info()).toMatchObject({ release: bundles.A.sha256, label: "env-1" });
});

test("--when changed: a host already on the release with that env is left alone", async () => {
    const pid = appPid();
    lb.calls.length = 0;
    const r = await cutover(bundles.A, envFile("env-1"), ["--when", "changed"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${peer} already runs ${bundles.A.sha256} with this env and the LB has it up`);
    expect(posts()).toEqual([]);
    expect(appPid()).toBe(pid);
});

test("--when changed with another env (or release) cuts over as usual", async () => {
    const pid = appPid();
    lb.calls.length = 0;
    const r = await cutover(bundles.A, envFile("env-2"), ["--when", "changed"]);
    expect(r.code).toBe(0);
    expect(posts()).toEqual([`/lb/peers/${peer}/drain`, `/lb/peers/${peer}/undrain`]);
    expect(appPid()).not.toBe(pid);
    expect(link(path.join(envRoot, "app.env"))).toBe(`env/${sha256(envFile("env-2"))}.env`);
    expect(await info()).toMatchObject({ release: bundles.A.sha256, label: "env-2" });
});

test.each([
    [["--env", "file"], "--env must be stdin, live or the sha256 of a staged env file"],
    [["--env", "f".repeat(64)], `--env ${"f".repeat(64)}: no such staged env file`],
    [["--when", "sometimes"], "--when must be always or changed"],
])("bad %j is refused", async (flags, message) => {
    const r = await cutover(bundles.A, envFile("env-2"), flags);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
});
