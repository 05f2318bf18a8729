// A failed cutover's error ends with the app's own log (what it printed since its restart), with the env
// file's values masked: the cause is in the Command's error instead of in the host's journal. cutover.sh
// runs against a real sample server on this machine (fake-service.sh for systemd and journalctl).
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderEnvFile } from "../../components/env";
import { hostEnv, makeHostRoot } from "../support/fakeHost";
import { localHostTools } from "../support/hostTools";
import { freePort } from "../support/ports";
import { killPid, run, RunResult } from "../support/processes";
import { buildBundle, Bundle } from "../support/sampleApp";
import { FakeLb, startFakeLb } from "./fakeLb";

jest.setTimeout(120_000);

const hostDir = localHostTools();
const mailPassword = "mail-Pa$$word`x";
const apiKey = "sk_live_0123456789";

let tmp: string;
let root: { appRoot: string; envRoot: string };
let appPort: number;
let lb: FakeLb;

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-cutover-log-"));
    root = makeHostRoot(tmp);
    appPort = await freePort();
    lb = await startFakeLb("/");
});
afterAll(async () => {
    const pidFile = path.join(tmp, "app.pid");
    if (fs.existsSync(pidFile)) killPid(Number(fs.readFileSync(pidFile, "utf8")));
    await lb?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
});

const env = (extra: Record<string, string>) =>
    renderEnvFile({ PORT: String(appPort), ROOT_URL: "https://app.example.test", BIND_IP: "127.0.0.1", ...extra });
const scriptEnv = () => hostEnv({ ...root, stateDir: tmp, lbPort: lb.port, stopTimeoutSeconds: 5 });

async function deploy(b: Bundle, envText: string): Promise<RunResult> {
    fs.copyFileSync(b.path, path.join(root.appRoot, "incoming", `${b.sha256}.tgz`));
    const staged = await run(path.join(hostDir, "stage.sh"), [b.sha256], {
        env: scriptEnv(),
        stdin: envText,
        timeoutMs: 60_000,
    });
    expect(staged.code).toBe(0);
    const args = ["--release", b.sha256, "--peer", `127.0.0.1:${appPort}`, "--lb", "127.0.0.1"];
    return run(path.join(hostDir, "cutover.sh"), [...args, "--health-timeout", "3", "--lb-timeout", "5"], {
        env: scriptEnv(),
        stdin: envText,
        timeoutMs: 90_000,
    });
}

test("a release that needs MONGO_URL fails the cutover with Meteor's own message at the end, secrets masked", async () => {
    const good = buildBundle(path.join(tmp, "good.tgz"), "good");
    const needsMongo = buildBundle(path.join(tmp, "needs-mongo.tgz"), "needs-mongo", null, { requireMongoUrl: true });
    expect((await deploy(good, env({}))).code).toBe(0);

    // The app's output since its restart is what the error shows; lines of an earlier run are not.
    fs.appendFileSync(path.join(tmp, "app.log"), "a line printed before this cutover\n");
    const secretEnv = env({
        MAIL_URL: `smtp://postmaster:${mailPassword}@mail.example.test:587`,
        METEOR_SETTINGS: JSON.stringify({ stripe: { key: apiKey }, public: { tag: "v2" } }),
    });
    const r = await deploy(needsMongo, secretEnv);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("FAILED while health: no healthy answer");
    expect(r.stderr).toContain("previous release is healthy again");
    const [, tail] = r.stderr.split(
        "cutover.sh: the app's log since its restart (last 40 lines, env values masked):\n",
    );
    expect(tail).toMatch(/^Error: MONGO_URL must be set in environment$/m);
    expect(tail).toContain(path.join("bundle", "programs", "server", "boot.js"));
    expect(tail).not.toContain("a line printed before this cutover");
    // The tail is the end of the error, and nothing after it is the rollback's (good release) output.
    expect(r.stderr.trimEnd().endsWith(tail.trimEnd())).toBe(true);
    expect(tail).not.toContain("good");
    for (const secret of [mailPassword, apiKey]) expect(r.stdout + r.stderr).not.toContain(secret);
});

/** mask_env_values of deploy-lib.sh: text on stdin, env file as rendered by components/env.ts. */
function mask(text: string, vars: Record<string, string>): string {
    const file = path.join(tmp, "mask.env");
    fs.writeFileSync(file, renderEnvFile(vars));
    return execFileSync("bash", ["-c", `. "$1/deploy-lib.sh"; mask_env_values "$2"`, "_", hostDir, file], {
        input: text,
        encoding: "utf8",
    });
}

describe("mask_env_values", () => {
    test.each([
        [
            "a value, wherever it appears",
            "token abcdef123 and again abcdef123",
            { API_TOKEN: "abcdef123" },
            "token [masked] and again [masked]",
        ],
        [
            "a value with the env file's escapes (\\ \" ` $)",
            'got pa$s"w`o\\rd!',
            { P: 'pa$s"w`o\\rd!' },
            "got [masked]",
        ],
        [
            "the password of a URL with credentials, also alone",
            "auth failed for p4ssw0rd-xyz at mongodb://app:p4ssw0rd-xyz@db.internal/app",
            { MONGO_URL: "mongodb://app:p4ssw0rd-xyz@db.internal/app" },
            "auth failed for [masked] at [masked]",
        ],
        [
            "each string of METEOR_SETTINGS",
            "Stripe said: invalid key sk_test_abcdef",
            { METEOR_SETTINGS: JSON.stringify({ stripe: { secretKey: "sk_test_abcdef" } }) },
            "Stripe said: invalid key [masked]",
        ],
        ["the longest value first", "secret-longer", { A: "secret", B: "secret-longer" }, "[masked]"],
        [
            "public values the program sets, and short ones, stay readable",
            "production app on 3000 at https://app.example.test, debug true",
            { NODE_ENV: "production", PORT: "3000", ROOT_URL: "https://app.example.test", DEBUG: "true" },
            "production app on 3000 at https://app.example.test, debug true",
        ],
        ["glob characters are literal", "a*b?c[d] and axxbyc", { G: "a*b?c[d]" }, "[masked] and axxbyc"],
    ] as [string, string, Record<string, string>, string][])("%s", (_what, text, vars, expected) => {
        expect(mask(text, vars)).toBe(`${expected}\n`);
    });
});
