import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";

// scripts/up.sh (`npm run up`) in a fresh copy of the project, with stand-ins on PATH: a `pulumi` that records
// its calls and answers `config get` like the real CLI (the stack file's value, else Pulumi.yaml's default),
// and an `npm` that records its calls, makes node_modules for `npm ci` at the root, and runs the real npm
// for everything else (the sample's build). Nothing here reaches a cloud.

const root = path.resolve(__dirname, "../..");
const realNpm = execFileSync("bash", ["-c", "command -v npm"], { encoding: "utf8" }).trim();
const sdkVersion: string = JSON.parse(
    fs.readFileSync(path.join(root, "node_modules/@pulumi/pulumi/package.json"), "utf8"),
).version;
const projectFiles = ["scripts/up.sh", "Pulumi.yaml", "package.json", "package-lock.json", "sample-app"];

let tmp: string;
beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-up-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A copy of what up.sh reads, as a fresh clone has it: no node_modules, no built bundle. */
function freshClone(name: string): string {
    const dir = path.join(tmp, name);
    for (const f of projectFiles) {
        fs.cpSync(path.join(root, f), path.join(dir, f), {
            recursive: true,
            filter: (src) => !/[/\\](node_modules|dist)([/\\]|$)/.test(path.relative(root, src)),
        });
    }
    return dir;
}

const standInPulumi = `#!/usr/bin/env node
const fs = require("fs");
const path = require("path");
const YAML = require(process.env.STANDIN_YAML);
const argv = process.argv.slice(2);
const state = path.join(process.env.STANDIN_DIR, "selected-stack");
fs.appendFileSync(path.join(process.env.STANDIN_DIR, "pulumi.log"), JSON.stringify(argv) + "\\n");
const project = YAML.parse(fs.readFileSync("Pulumi.yaml", "utf8"));
const flag = argv.indexOf("--stack");
const stack = flag >= 0 ? argv[flag + 1] : fs.existsSync(state) ? fs.readFileSync(state, "utf8") : undefined;
const fail = (msg) => { process.stderr.write("error: " + msg + "\\n"); process.exit(255); };
function configGet(key, program) {
    if (stack === undefined) fail("no stack selected");
    const file = "Pulumi." + stack + ".yaml";
    const own = fs.existsSync(file) ? (YAML.parse(fs.readFileSync(file, "utf8")).config || {}) : {};
    const full = project.name + ":" + key;
    if (full in own) return String(own[full]);
    // Current CLIs answer a project default; STANDIN_OLD_CLI plays one that does not (the program still gets it).
    const d = (project.config[key] || {}).default;
    if (d !== undefined && (program || !process.env.STANDIN_OLD_CLI)) return String(d);
    fail("configuration key '" + key + "' not found for stack '" + stack + "'");
}
if (argv[0] === "stack" && argv[1] === "select") {
    fs.writeFileSync(state, argv[argv.length - 1]);
} else if (argv[0] === "config" && argv[1] === "get") {
    console.log(configGet(argv[2]));
} else if (argv[0] === "up") {
    // What the program's preview does first: read the bundle, or fail on a missing file.
    const bundle = path.resolve(configGet("bundle", true));
    if (!fs.existsSync(bundle)) fail("meteor-do:bundle: no such file (" + bundle + ")");
} else {
    fail("stand-in: unexpected call " + argv.join(" "));
}
`;

const recorder = (name: string) => `#!/usr/bin/env bash
printf '%s\\n' "$PWD $*" >>"$STANDIN_DIR/${name}.log"
`;

// npm ci at the project root links the real node_modules entries (the copy's own .package-lock.json marks it
// installed); any other call is the real npm's (the sample build runs \`npm ci\` in its server program).
const standInNpm = `#!/usr/bin/env bash
printf '%s\\n' "$PWD $*" >>"$STANDIN_DIR/npm.log"
if [ "$1" = ci ] && [ -f Pulumi.yaml ]; then
  mkdir node_modules
  for e in "$STANDIN_ROOT"/node_modules/* "$STANDIN_ROOT"/node_modules/.bin; do ln -s "$e" node_modules/; done
  echo '{}' > node_modules/.package-lock.json
  exit 0
fi
exec "$STANDIN_REAL_NPM" "$@"
`;

interface Run {
    status: number | null;
    stderr: string;
    pulumi: string[][];
    npm: string[];
    fetchers: string[];
}

function binDir(dir: string, withPulumi: boolean): string {
    const bin = path.join(dir, ".standin-bin");
    fs.mkdirSync(bin, { recursive: true });
    const write = (name: string, text: string) => fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
    if (withPulumi) write("pulumi", standInPulumi);
    write("npm", standInNpm);
    for (const f of ["npx", "curl", "wget"]) write(f, recorder("fetch"));
    // Without pulumi, PATH is this directory alone, so a pulumi elsewhere on this machine cannot leak in.
    for (const tool of ["bash", "node", "dirname"]) {
        const target = tool === "node" ? process.execPath : execFileSync("bash", ["-c", `command -v ${tool}`]);
        const link = path.join(bin, tool);
        if (!fs.existsSync(link)) fs.symlinkSync(String(target).trim(), link);
    }
    return withPulumi ? `${bin}:${path.dirname(process.execPath)}:${process.env.PATH}` : bin;
}

function up(dir: string, args: string[], opts: { withPulumi?: boolean; env?: Record<string, string> } = {}): Run {
    const standin = path.join(dir, ".standin");
    fs.rmSync(path.join(standin, "pulumi.log"), { force: true });
    fs.rmSync(path.join(standin, "npm.log"), { force: true });
    fs.mkdirSync(standin, { recursive: true });
    const PATH = binDir(dir, opts.withPulumi ?? true);
    const result = spawnSync(path.join(dir, ".standin-bin", "bash"), [path.join(dir, "scripts", "up.sh"), ...args], {
        cwd: tmp,
        encoding: "utf8",
        timeout: 120_000,
        env: {
            PATH,
            HOME: process.env.HOME ?? tmp,
            DIGITALOCEAN_TOKEN: "dop_v1_test",
            STANDIN_DIR: standin,
            STANDIN_ROOT: root,
            STANDIN_REAL_NPM: realNpm,
            STANDIN_YAML: require.resolve("yaml"),
            ...opts.env,
        },
    });
    const lines = (f: string) =>
        fs.existsSync(path.join(standin, f))
            ? fs.readFileSync(path.join(standin, f), "utf8").split("\n").filter(Boolean)
            : [];
    return {
        status: result.status,
        stderr: result.stderr,
        pulumi: lines("pulumi.log").map((l) => JSON.parse(l)),
        npm: lines("npm.log").map((l) => l.replace(dir, "<clone>")),
        fetchers: lines("fetch.log"),
    };
}

const sampleOut = "sample-app/dist/sample-bundle.tgz";

describe("npm run up (scripts/up.sh)", () => {
    test("fresh clone: npm ci, stack select --create, the sample built once, up; the second run builds nothing", () => {
        const dir = freshClone("fresh");
        const first = up(dir, ["--stack", "staging", "--yes"]);
        expect([first.status, first.stderr]).toEqual([0, ""]);
        expect(first.pulumi).toEqual([
            ["stack", "select", "--create", "staging"],
            ["config", "get", "bundle"],
            ["up", "--stack", "staging", "--yes"],
        ]);
        expect(first.npm).toEqual([
            "<clone> ci --no-audit --no-fund",
            `<clone> run --silent sample:bundle -- --out ${path.join(dir, sampleOut)}`,
            // the sample's build: its server's npm deps, in a scratch copy
            expect.stringMatching(/\/bundle\/programs\/server ci /),
        ]);
        const built = fs.statSync(path.join(dir, sampleOut));

        const second = up(dir, ["--stack", "staging"]);
        expect(second.status).toBe(0);
        expect(second.pulumi.map((c) => c[0])).toEqual(["stack", "config", "up"]);
        expect(second.npm).toEqual([]);
        expect(fs.statSync(path.join(dir, sampleOut)).mtimeMs).toBe(built.mtimeMs);
        expect(first.fetchers.concat(second.fetchers)).toEqual([]);
    }, 120_000);

    test("a CLI that answers no project default: the default comes from Pulumi.yaml, and the sample is built", () => {
        const dir = freshClone("old-cli");
        const r = up(dir, ["--stack", "dev"], { env: { STANDIN_OLD_CLI: "1" } });
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(r.pulumi.map((c) => c.slice(0, 2))).toEqual([
            ["stack", "select"],
            ["config", "get"],
            ["up", "--stack"],
        ]);
        expect(fs.existsSync(path.join(dir, sampleOut))).toBe(true);
    }, 120_000);

    test("a configured bundle that exists is deployed as is; a missing one stops before up, naming it", () => {
        const dir = freshClone("own");
        fs.writeFileSync(
            path.join(dir, "Pulumi.prod.yaml"),
            YAML.stringify({ config: { "meteor-do:bundle": "app.tgz" } }),
        );
        const missing = up(dir, ["--stack", "prod"]);
        expect(missing.status).toBe(2);
        expect(missing.stderr).toBe(
            "up: bundle app.tgz does not exist; build it with `meteor build <dir> --server-only` (docs/your-app.md)\n",
        );
        expect(missing.pulumi.map((c) => c[0])).toEqual(["stack", "config"]);

        fs.writeFileSync(path.join(dir, "app.tgz"), "not really a bundle");
        const r = up(dir, ["--stack", "prod"]);
        expect(r.status).toBe(0);
        expect(r.pulumi.map((c) => c[0])).toEqual(["stack", "config", "up"]);
        expect(r.npm.filter((l) => l.includes("sample:bundle"))).toEqual([]);
        expect(fs.existsSync(path.join(dir, sampleOut))).toBe(false);
    }, 120_000);

    test("no pulumi on PATH: one line naming the SDK's version, non-zero, nothing fetched or installed", () => {
        const dir = freshClone("no-pulumi");
        const r = up(dir, ["--stack", "staging"], { withPulumi: false });
        expect(r.status).not.toBe(0);
        expect(r.stderr).toBe(
            `up: no pulumi CLI on PATH; install v${sdkVersion} (the version of this project's @pulumi/pulumi SDK): ` +
                `curl -fsSL https://get.pulumi.com | sh -s -- --version ${sdkVersion}\n`,
        );
        expect([r.npm, r.fetchers]).toEqual([[], []]);

        // With node_modules installed, the version is the installed SDK's, read at run time.
        const sdk = path.join(dir, "node_modules", "@pulumi", "pulumi");
        fs.mkdirSync(sdk, { recursive: true });
        fs.writeFileSync(path.join(sdk, "package.json"), JSON.stringify({ version: "3.999.1" }));
        const installed = up(dir, ["--stack", "staging"], { withPulumi: false });
        expect(installed.status).not.toBe(0);
        expect(installed.stderr).toContain("install v3.999.1 ");
    });

    test("without --stack: usage, exit 2, nothing called", () => {
        const dir = freshClone("usage");
        const r = up(dir, ["--yes"]);
        expect([r.status, r.stderr, r.pulumi, r.npm]).toEqual([
            2,
            "usage: npm run up -- --stack <name> [pulumi up flags] | npm run up -- --local [--config FILE] [--port N] [--destroy]\n",
            [],
            [],
        ]);
    });

    test("--local as a user other than root: one line saying so, exit 2", () => {
        const dir = freshClone("local-user");
        // As nobody (setpriv needs root; a non-root run is that user already); the script on stdin, so no
        // directory of this suite needs to be readable by nobody.
        const asNobody =
            process.getuid?.() === 0 ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
        const argv = [...asNobody, "bash", "-s", "--", "--local", "--destroy"];
        const r = spawnSync(argv[0], argv.slice(1), {
            input: fs.readFileSync(path.join(dir, "scripts/up.sh")),
            cwd: "/",
            encoding: "utf8",
            timeout: 30_000,
        });
        expect([r.status, r.stderr]).toEqual([
            2,
            "up --local: run as root (the local stack makes network namespaces and boots containers)\n",
        ]);
    });
});
