// cutover.sh detached from its caller, with a stand-in for `systemd-run --wait` (support/fake-bin: the
// "unit" runs in a session of its own): the caller passes the unit's output and exit status on, and when
// the caller's whole process group is killed mid-cutover (a dropped SSH session), the cutover still
// finishes: the host serves the new release and is undrained. The e2e does the same with real systemd.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { localHostTools } from "../support/hostTools";
import { buildBundle, Bundle } from "../support/sampleApp";
import { waitFor } from "../support/wait";
import { AppHost, startAppHost } from "./appHost";

jest.setTimeout(120_000);

const hostDir = localHostTools();
const FAKE_BIN = path.join(__dirname, "..", "support", "fake-bin");
let host: AppHost;
const bundles: Record<string, Bundle> = {};

function env(detached: boolean): NodeJS.ProcessEnv {
    const e = host.env();
    if (!detached) return e;
    const { METEOR_DO_CUTOVER_DETACH: _inline, ...rest } = e;
    return { ...rest, PATH: `${FAKE_BIN}:${process.env.PATH}`, METEOR_DO_RUN_DIR: host.tmp };
}
const args = (b: Bundle | string) => [
    "--release",
    typeof b === "string" ? b : b.sha256,
    "--peer",
    host.peer,
    "--lb",
    "127.0.0.1",
    "--health-path",
    "/",
    "--health-timeout",
    "20",
    "--lb-timeout",
    "20",
];
const cutover = (b: Bundle | string, detached: boolean) => host.script("cutover.sh", args(b), { env: env(detached) });
const served = async () => (await host.info()).release;
const posts = () => host.lb.calls.filter((c) => c.method === "POST").map((c) => c.path.split("/").pop());
const runDirs = () => fs.readdirSync(host.tmp).filter((n) => n.startsWith("meteor-do-cutover."));

beforeAll(async () => {
    host = await startAppHost("detached");
    for (const label of ["A", "B", "C"]) {
        bundles[label] = buildBundle(path.join(host.tmp, `${label}.tgz`), label);
        await host.stage(bundles[label]);
    }
    expect((await cutover(bundles.A, false)).code).toBe(0);
});

afterAll(async () => host?.close());

test("the caller shows the unit's output and exit status, and leaves no run directory behind", async () => {
    const ok = await cutover(bundles.B, true);
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: "" });
    expect(ok.stdout).toMatch(
        new RegExp(`^cutover.sh: cutting ${host.peer} over to ${bundles.B.sha256}\ncutover.sh: cut over to`),
    );
    expect(await served()).toBe(bundles.B.sha256);
    const bad = await cutover("0".repeat(64), true);
    expect([bad.code, bad.stderr]).toEqual([
        1,
        `cutover.sh: error: release ${"0".repeat(64)} is not staged (run stage.sh first)\n`,
    ]);
    expect(runDirs()).toEqual([]);
});

test("killing the caller's whole process group mid-cutover leaves the cutover running to the end", async () => {
    host.lb.calls.length = 0;
    const caller = spawn(path.join(hostDir, "cutover.sh"), args(bundles.C), {
        env: env(true),
        stdio: ["pipe", "ignore", "ignore"],
        detached: true,
    });
    caller.stdin.end(host.envText());
    await waitFor("the drain", async () => posts().includes("drain"), 30_000, 20);
    process.kill(-caller.pid!, "SIGKILL");
    expect(posts()).toEqual(["drain"]);
    await waitFor("the undrain", async () => posts().includes("undrain"), 60_000, 100);
    expect(posts()).toEqual(["drain", "undrain"]);
    expect(fs.readlinkSync(path.join(host.appRoot, "current"))).toBe(`releases/${bundles.C.sha256}`);
    expect(await served()).toBe(bundles.C.sha256);
    // Its last line (after pruning old releases) lands in the run directory nobody is left to clean up.
    const outs = () => runDirs().map((n) => fs.readFileSync(path.join(host.tmp, n, "out"), "utf8"));
    await waitFor(
        "the detached cutover's last line",
        async () => outs().some((o) => o.includes("cut over to")),
        30_000,
        100,
    );
});
