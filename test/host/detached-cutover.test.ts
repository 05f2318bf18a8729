// cutover.sh detached from its caller, with a stand-in for `systemd-run --wait` (support/fake-bin: the
// "unit" runs in a session of its own): the caller passes the unit's output and exit status on, and when
// the caller's whole process group is killed mid-cutover (a dropped SSH session), the cutover still
// finishes: the host serves the new release and is undrained. The e2e does the same with real systemd.
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderEnvFile } from "../../components/env";
import { hostEnv, makeHostRoot } from "../support/fakeHost";
import { localHostTools } from "../support/hostTools";
import { request } from "../support/http";
import { freePort } from "../support/ports";
import { killPid, run } from "../support/processes";
import { buildBundle, Bundle } from "../support/sampleApp";
import { waitFor } from "../support/wait";
import { FakeLb, startFakeLb } from "./fakeLb";

jest.setTimeout(120_000);

const hostDir = localHostTools();
const FAKE_BIN = path.join(__dirname, "..", "support", "fake-bin");
let tmp: string;
let appRoot: string;
let envRoot: string;
let appPort: number;
let lb: FakeLb;
let peer: string;
const bundles: Record<string, Bundle> = {};

const envText = () =>
    renderEnvFile({
        PORT: String(appPort),
        ROOT_URL: "https://example.test",
        STOP_GRACE_SECONDS: "1",
        BIND_IP: "127.0.0.1",
    });
function env(detached: boolean): NodeJS.ProcessEnv {
    const e = hostEnv({ appRoot, envRoot, stateDir: tmp, lbPort: lb.port, stopTimeoutSeconds: 5 });
    if (!detached) return e;
    const { METEOR_DO_CUTOVER_DETACH: _inline, ...rest } = e;
    return { ...rest, PATH: `${FAKE_BIN}:${process.env.PATH}`, METEOR_DO_RUN_DIR: tmp };
}
const args = (b: Bundle | string) => [
    "--release",
    typeof b === "string" ? b : b.sha256,
    "--peer",
    peer,
    "--lb",
    "127.0.0.1",
    "--health-path",
    "/",
    "--health-timeout",
    "20",
    "--lb-timeout",
    "20",
];
const cutover = (b: Bundle | string, detached: boolean) =>
    run(path.join(hostDir, "cutover.sh"), args(b), { env: env(detached), stdin: envText(), timeoutMs: 90_000 });
const served = async () => JSON.parse((await request({ url: `http://127.0.0.1:${appPort}/info.json` })).body).release;
const posts = () => lb.calls.filter((c) => c.method === "POST").map((c) => c.path.split("/").pop());

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-detached-"));
    ({ appRoot, envRoot } = makeHostRoot(path.join(tmp, "host")));
    appPort = await freePort();
    lb = await startFakeLb("/");
    peer = `127.0.0.1:${appPort}`;
    for (const label of ["A", "B", "C"]) {
        bundles[label] = buildBundle(path.join(tmp, `${label}.tgz`), label);
        fs.copyFileSync(bundles[label].path, path.join(appRoot, "incoming", `${bundles[label].sha256}.tgz`));
        const staged = await run(path.join(hostDir, "stage.sh"), [bundles[label].sha256], {
            env: env(false),
            stdin: envText(),
            timeoutMs: 60_000,
        });
        expect(staged.code).toBe(0);
    }
    expect((await cutover(bundles.A, false)).code).toBe(0);
});

afterAll(async () => {
    const pidFile = path.join(tmp, "app.pid");
    if (fs.existsSync(pidFile)) killPid(Number(fs.readFileSync(pidFile, "utf8")));
    await lb?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
});

test("the caller shows the unit's output and exit status, and leaves no run directory behind", async () => {
    const ok = await cutover(bundles.B, true);
    expect({ code: ok.code, stderr: ok.stderr }).toEqual({ code: 0, stderr: "" });
    expect(ok.stdout).toMatch(
        new RegExp(`^cutover.sh: cutting ${peer} over to ${bundles.B.sha256}\ncutover.sh: cut over to`),
    );
    expect(await served()).toBe(bundles.B.sha256);
    const bad = await cutover("0".repeat(64), true);
    expect([bad.code, bad.stderr]).toEqual([
        1,
        `cutover.sh: error: release ${"0".repeat(64)} is not staged (run stage.sh first)\n`,
    ]);
    expect(fs.readdirSync(tmp).filter((n) => n.startsWith("meteor-do-cutover."))).toEqual([]);
});

test("killing the caller's whole process group mid-cutover leaves the cutover running to the end", async () => {
    lb.calls.length = 0;
    const caller = spawn(path.join(hostDir, "cutover.sh"), args(bundles.C), {
        env: env(true),
        stdio: ["pipe", "ignore", "ignore"],
        detached: true,
    });
    caller.stdin.end(envText());
    await waitFor("the drain", async () => posts().includes("drain"), 30_000, 20);
    process.kill(-caller.pid!, "SIGKILL");
    expect(posts()).toEqual(["drain"]);
    await waitFor("the undrain", async () => posts().includes("undrain"), 60_000, 100);
    expect(posts()).toEqual(["drain", "undrain"]);
    expect(fs.readlinkSync(path.join(appRoot, "current"))).toBe(`releases/${bundles.C.sha256}`);
    expect(await served()).toBe(bundles.C.sha256);
    // Its last line (after pruning old releases) lands in the run directory nobody is left to clean up.
    const outs = () =>
        fs
            .readdirSync(tmp)
            .filter((n) => n.startsWith("meteor-do-cutover."))
            .map((n) => fs.readFileSync(path.join(tmp, n, "out"), "utf8"));
    await waitFor(
        "the detached cutover's last line",
        async () => outs().some((o) => o.includes("cut over to")),
        30_000,
        100,
    );
});
