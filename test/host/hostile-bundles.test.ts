// stage.sh against bundles that try to reach outside their release: a top-level link where the host writes
// RELEASE, a setuid file, a `..` path, absolute paths, devices, links out of the tree, and an install
// script that writes outside its directory. Each is refused (nothing staged, nothing written outside) or
// contained (the script runs as the build user and every write outside fails), and the host's live
// release keeps serving throughout. Real processes as in deploy-scripts.test.ts; the build user is nobody.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as zlib from "zlib";
import * as tar from "tar-stream";
import { RunResult } from "../support/processes";
import { buildBundle, Bundle } from "../support/sampleApp";
import { AppHost, startAppHost } from "./appHost";

jest.setTimeout(120_000);

let host: AppHost;
let tmp: string;
let appRoot: string;
let live: Bundle;
/** A file outside the host's directories that a bundle must never reach. */
let victim: string;

const script = (name: string, args: string[], extra: Record<string, string> = {}): Promise<RunResult> =>
    host.script(name, args, { env: host.env(extra) });
const releases = () => fs.readdirSync(path.join(appRoot, "releases")).sort();
const served = async () => (await host.info()).release;

type Entry = { header: Partial<tar.Header> & { name: string }; body?: string };

/** The live bundle's entries, edited by `edit`, packed as a new upload; returns its sha256. */
async function hostile(edit: (entries: Entry[]) => Entry[]): Promise<string> {
    const entries: Entry[] = [];
    const extract = tar.extract();
    extract.on("entry", (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on("data", (c) => chunks.push(c as Buffer));
        stream.on("end", () => {
            entries.push({ header, body: Buffer.concat(chunks).toString("latin1") });
            next();
        });
    });
    const read = new Promise<void>((resolve, reject) => extract.on("finish", () => resolve()).on("error", reject));
    extract.end(zlib.gunzipSync(fs.readFileSync(live.path)));
    await read;
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    const packed = new Promise<void>((resolve) =>
        pack.on("data", (c) => chunks.push(c as Buffer)).on("end", () => resolve()),
    );
    for (const e of edit(entries)) {
        const body =
            e.header.type === undefined || e.header.type === "file" ? Buffer.from(e.body ?? "", "latin1") : undefined;
        if (body) pack.entry({ ...e.header, size: body.length }, body);
        else pack.entry({ ...e.header, size: 0 });
    }
    pack.finalize();
    await packed;
    const tgz = zlib.gzipSync(Buffer.concat(chunks));
    const sha = crypto.createHash("sha256").update(tgz).digest("hex");
    fs.writeFileSync(path.join(appRoot, "incoming", `${sha}.tgz`), tgz);
    return sha;
}

const SERVER = "bundle/programs/server/";

/** The live bundle without its server deps, depending on a local package whose install script is `js`. */
function withInstallScript(js: string): Promise<string> {
    const replaced = ["node_modules", "package-lock.json", "package.json"].map((n) => SERVER + n);
    return hostile((entries) => [
        ...entries.filter((e) => !replaced.some((n) => e.header.name.startsWith(n))),
        file(
            `${SERVER}package.json`,
            JSON.stringify({ name: "server", version: "1.0.0", dependencies: { evil: "file:evil" } }),
        ),
        file(
            `${SERVER}evil/package.json`,
            JSON.stringify({ name: "evil", version: "1.0.0", scripts: { install: "node install.js" } }),
        ),
        file(`${SERVER}evil/install.js`, js),
    ]);
}

const file = (name: string, body: string, mode = 0o644): Entry => ({ header: { name, mode, type: "file" }, body });
const plus =
    (...extra: Entry[]) =>
    (entries: Entry[]) => [...entries, ...extra];

beforeAll(async () => {
    host = await startAppHost("hostile");
    ({ tmp, appRoot } = host);
    victim = path.join(tmp, "victim");
    fs.writeFileSync(victim, "original\n");
    live = buildBundle(path.join(tmp, "live.tgz"), "live");
    await host.stage(live);
    const args = ["--release", live.sha256, "--peer", host.peer, "--lb", "127.0.0.1", "--health-path", "/"];
    expect((await script("cutover.sh", [...args, "--health-timeout", "10", "--lb-timeout", "10"])).code).toBe(0);
});

afterAll(async () => host?.close());

describe("stage.sh refuses a bundle that reaches outside its release", () => {
    test.each([
        [
            "a top-level RELEASE link to a file outside",
            () => plus({ header: { name: "RELEASE", type: "symlink", linkname: victim } }),
            'top-level "RELEASE" is not a plain file or directory',
        ],
        [
            "a top-level DEPLOYED file",
            () => plus(file("DEPLOYED", "")),
            'top-level "DEPLOYED" is a name the host writes',
        ],
        [
            "a setuid file",
            () => plus(file("bundle/tool", "#!/bin/sh\n", 0o4755)),
            '"bundle/tool" has the setuid or setgid bit (rwsr-xr-x)',
        ],
        [
            "a setgid directory",
            () => plus({ header: { name: "bundle/shared/", type: "directory", mode: 0o2775 } }),
            '"bundle/shared/" has the setuid or setgid bit',
        ],
        [
            "a `..` path",
            () => plus(file("bundle/../../escape.txt", "x")),
            '"bundle/../../escape.txt" is an absolute path or contains ..',
        ],
        [
            "an absolute path",
            () => plus(file("/meteor-do-hostile-absolute.txt", "x")),
            '"/meteor-do-hostile-absolute.txt" is an absolute path or contains ..',
        ],
        [
            "a device file",
            () => plus({ header: { name: "bundle/null", type: "character-device", devmajor: 1, devminor: 3 } }),
            '"bundle/null" is a device file, fifo or socket (type c)',
        ],
        [
            "a fifo",
            () => plus({ header: { name: "bundle/pipe", type: "fifo" } }),
            '"bundle/pipe" is a device file, fifo or socket (type p)',
        ],
        [
            "a link out of the tree",
            () => plus({ header: { name: "bundle/programs/etc", type: "symlink", linkname: "../../../etc" } }),
            'link "bundle/programs/etc" -> "../../../etc" points outside the bundle',
        ],
        [
            "an absolute link",
            () => plus({ header: { name: "bundle/passwd", type: "symlink", linkname: "/etc/passwd" } }),
            'link "bundle/passwd" -> "/etc/passwd" points outside the bundle',
        ],
        [
            "a hard link out of the tree",
            () => plus({ header: { name: "bundle/hard", type: "link", linkname: "../victim" } }),
            'hard link "bundle/hard" to "../victim" points outside the bundle',
        ],
    ])("%s", async (_what, edit, message) => {
        const before = releases();
        const sha = await hostile(edit());
        const r = await script("stage.sh", [sha]);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`bundle refused: ${message}`);
        expect(releases()).toEqual(before);
        expect(fs.readFileSync(victim, "utf8")).toBe("original\n");
        expect(fs.existsSync("/meteor-do-hostile-absolute.txt")).toBe(false);
        for (const stray of ["escape.txt", "meteor-do-hostile-absolute.txt"]) {
            expect(fs.existsSync(path.join(appRoot, stray))).toBe(false);
            expect(fs.existsSync(path.join(tmp, stray))).toBe(false);
        }
        expect(await served()).toBe(live.sha256);
    });
});

describe("an install script runs as the build user and cannot write outside its directory", () => {
    test("every write outside fails, the release is staged and owned by root, the live one untouched", async () => {
        const targets = {
            envDir: path.join(host.envRoot, "pwned"),
            liveRelease: path.join(appRoot, "releases", live.sha256, "pwned"),
            releasesDir: path.join(appRoot, "releases", "pwned"),
            hostRoot: path.join(tmp, "pwned"),
            victim,
        };
        const install = `
            const fs = require("fs");
            const report = { uid: process.getuid(), wrote: [] };
            for (const [what, p] of Object.entries(${JSON.stringify(targets)})) {
                try { fs.writeFileSync(p, "pwned\\n"); report.wrote.push(what); } catch {}
            }
            try { fs.symlinkSync(${JSON.stringify(victim)}, ${JSON.stringify(path.join(appRoot, "current"))} + ".x");
                  report.wrote.push("current"); } catch {}
            fs.writeFileSync("report.json", JSON.stringify(report));`;
        const sha = await withInstallScript(install);
        const r = await script("stage.sh", [sha], { npm_config_offline: "true" });
        expect({ code: r.code, stderr: r.stderr }).toMatchObject({ code: 0 });
        const release = path.join(appRoot, "releases", sha);
        const report = JSON.parse(fs.readFileSync(path.join(release, SERVER, "evil", "report.json"), "utf8"));
        expect(report).toEqual({ uid: 65534, wrote: [] });
        for (const p of Object.values(targets).filter((p) => p !== victim)) expect(fs.existsSync(p)).toBe(false);
        expect(fs.readFileSync(victim, "utf8")).toBe("original\n");
        expect(fs.readlinkSync(path.join(appRoot, "current"))).toBe(`releases/${live.sha256}`);
        expect(fs.statSync(path.join(release, SERVER, "evil", "report.json")).uid).toBe(0);
        expect(fs.statSync(release).uid).toBe(0);
        expect(await served()).toBe(live.sha256);
    });
});

describe("stage.sh refuses what a build leaves for root to trip on", () => {
    test.each([
        [
            "a top-level RELEASE link",
            'fs.symlinkSync(VICTIM, "../../../../RELEASE")',
            "the build left a top-level RELEASE that is not a plain file or directory",
        ],
        [
            "a link out of the release",
            'fs.symlinkSync("../../../../../victim", "victim")',
            "link bundle/programs/server/evil/victim points outside the release",
        ],
        [
            "a fifo",
            'require("child_process").execFileSync("mkfifo", ["fifo"])',
            "the build left a device file, fifo or socket: bundle/programs/server/evil/fifo",
        ],
    ])("%s", async (_what, js, message) => {
        const before = releases();
        const sha = await withInstallScript(
            `const fs = require("fs"); const VICTIM = ${JSON.stringify(victim)}; ${js};`,
        );
        const r = await script("stage.sh", [sha], { npm_config_offline: "true" });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`bundle refused: ${message}`);
        expect(releases()).toEqual(before);
        expect(fs.readFileSync(victim, "utf8")).toBe("original\n");
        expect(await served()).toBe(live.sha256);
    });
});
