// cutover.sh as `npm run ops -- rollback` and a recorded rollback use it, against real processes on this
// machine (fake-service.sh for systemd, fakeLb.ts for the LB): `--env live` goes back to a kept release
// with the env the host runs (nothing on stdin), and `--when changed` leaves a host alone when it already
// runs the release with that env.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { RunResult } from "../support/processes";
import { buildBundle, Bundle } from "../support/sampleApp";
import { AppHost, startAppHost } from "./appHost";

jest.setTimeout(120_000);

let host: AppHost;
const bundles: Record<string, Bundle> = {};

const envFile = (label: string) =>
    host.envText({ METEOR_SETTINGS: JSON.stringify({ public: { releaseLabel: label } }) });
const sha256 = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
const link = (p: string) => fs.readlinkSync(p);
const posts = () => host.lb.calls.filter((c) => c.method === "POST").map((c) => c.path);

function cutover(b: Bundle, stdin: string, flags: string[] = []): Promise<RunResult> {
    const args = ["--release", b.sha256, "--peer", host.peer, "--lb", "127.0.0.1", "--health-timeout", "5"];
    return host.script("cutover.sh", [...args, "--lb-timeout", "5", ...flags], { stdin });
}

beforeAll(async () => {
    host = await startAppHost("rollback");
    for (const label of ["A", "B"]) {
        bundles[label] = buildBundle(path.join(host.tmp, `${label}.tgz`), label);
        await host.stage(bundles[label], envFile("env-1"));
    }
});

afterAll(async () => host?.close());

test("--env live before any env is live: refused, nothing touched", async () => {
    const r = await cutover(bundles.A, "", ["--env", "live"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("--env live: no live env to keep");
    expect(fs.existsSync(path.join(host.appRoot, "current"))).toBe(false);
    expect(posts()).toEqual([]);
});

test("--env live: back to a kept release through the gate, with the live env and nothing on stdin", async () => {
    expect((await cutover(bundles.A, envFile("env-1"))).code).toBe(0);
    expect((await cutover(bundles.B, envFile("env-1"))).code).toBe(0);
    const liveEnv = link(path.join(host.envRoot, "app.env"));
    const pid = host.appPid();
    host.lb.calls.length = 0;
    const r = await cutover(bundles.A, "", ["--env", "live"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(posts()).toEqual([`/lb/peers/${host.peer}/drain`, `/lb/peers/${host.peer}/undrain`]);
    expect(host.appPid()).not.toBe(pid);
    expect(link(path.join(host.appRoot, "current"))).toBe(`releases/${bundles.A.sha256}`);
    expect(link(path.join(host.appRoot, "previous"))).toBe(`releases/${bundles.B.sha256}`);
    expect(link(path.join(host.envRoot, "app.env"))).toBe(liveEnv);
    expect(await host.info()).toMatchObject({ release: bundles.A.sha256, label: "env-1" });
});

test("--when changed: a host already on the release with that env is left alone", async () => {
    const pid = host.appPid();
    host.lb.calls.length = 0;
    const r = await cutover(bundles.A, envFile("env-1"), ["--when", "changed"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${host.peer} already runs ${bundles.A.sha256} with this env and the LB has it up`);
    expect(posts()).toEqual([]);
    expect(host.appPid()).toBe(pid);
});

test("--when changed with another env (or release) cuts over as usual", async () => {
    const pid = host.appPid();
    host.lb.calls.length = 0;
    const r = await cutover(bundles.A, envFile("env-2"), ["--when", "changed"]);
    expect(r.code).toBe(0);
    expect(posts()).toEqual([`/lb/peers/${host.peer}/drain`, `/lb/peers/${host.peer}/undrain`]);
    expect(host.appPid()).not.toBe(pid);
    expect(link(path.join(host.envRoot, "app.env"))).toBe(`env/${sha256(envFile("env-2"))}.env`);
    expect(await host.info()).toMatchObject({ release: bundles.A.sha256, label: "env-2" });
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
