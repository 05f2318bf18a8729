import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as zlib from "zlib";
import * as tar from "tar-stream";
import { readBundleInfo, resolveNodeVersion } from "../../components/bundleInfo";
import { buildBundle } from "../support/sampleApp";

// components/bundleInfo.ts on small tarballs made here, and on the sample app's real bundle.

let tmp: string;
beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-bundleinfo-"));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

let n = 0;
/** A tar.gz of the given entries, in order (an entry of null content is a directory). */
async function tarball(entries: [string, string | Buffer | null][]): Promise<string> {
    const pack = tar.pack();
    for (const [name, content] of entries) {
        if (content === null) pack.entry({ name, type: "directory" });
        else pack.entry({ name }, content);
    }
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    const file = path.join(tmp, `b${n++}.tgz`);
    fs.writeFileSync(file, zlib.gzipSync(Buffer.concat(chunks)));
    return file;
}

const star = (fields: Record<string, unknown>) =>
    JSON.stringify({ format: "site-archive-pre1", builtBy: "Meteor METEOR@2.16", programs: [], ...fields });

describe("readBundleInfo", () => {
    test.each([
        [
            "star.json, as meteor build writes it",
            [
                ["bundle/", null],
                ["bundle/main.js", "require('./programs/server/boot.js')"],
                [
                    "bundle/star.json",
                    star({ meteorRelease: "METEOR@2.16", nodeVersion: "14.21.4", npmVersion: "6.14.18" }),
                ],
            ],
            {
                nodeVersion: "14.21.4",
                nodeVersionFrom: "bundle/star.json",
                npmVersion: "6.14.18",
                meteorRelease: "METEOR@2.16",
            },
        ],
        [
            "names with a leading ./",
            [["./bundle/star.json", star({ nodeVersion: "22.13.1" })]],
            { nodeVersion: "22.13.1", nodeVersionFrom: "bundle/star.json" },
        ],
        [
            "only .node_version.txt (older bundles), with its v and newline",
            [
                ["bundle/.node_version.txt", "v8.11.4\n"],
                ["bundle/star.json", star({})],
            ],
            { nodeVersion: "8.11.4", nodeVersionFrom: "bundle/.node_version.txt" },
        ],
        [
            "both: star.json wins",
            [
                ["bundle/.node_version.txt", "v12.0.0\n"],
                ["bundle/star.json", star({ nodeVersion: "14.21.4" })],
            ],
            { nodeVersion: "14.21.4", nodeVersionFrom: "bundle/star.json" },
        ],
        [
            "neither: no version",
            [
                ["bundle/main.js", "x"],
                ["other/star.json", star({ nodeVersion: "14.21.4" })],
                ["bundle/programs/server/star.json", star({ nodeVersion: "14.21.4" })],
            ],
            {},
        ],
    ] as [string, [string, string | null][], object][])("%s", async (_what, entries, expected) => {
        expect(await readBundleInfo(await tarball(entries))).toEqual(expected);
    });

    test.each([
        [
            "star.json that is not JSON",
            [["bundle/star.json", "{nodeVersion: 14"]],
            "bundle/star.json is not valid JSON",
        ],
        [
            "a nodeVersion that is not exact",
            [["bundle/star.json", star({ nodeVersion: "14" })]],
            'bundle/star.json nodeVersion is "14", not an exact version X.Y.Z',
        ],
        [
            "a .node_version.txt that is not a version",
            [["bundle/.node_version.txt", "latest\n"]],
            'bundle/.node_version.txt is "latest\\n", not an exact version X.Y.Z',
        ],
    ] as [string, [string, string][], string][])("%s: an error naming the file", async (_what, entries, message) => {
        const file = await tarball(entries);
        await expect(readBundleInfo(file)).rejects.toThrow(`${file}: ${message}`);
    });

    test("a file that is not a tar.gz, or a truncated one: an error naming the file", async () => {
        const plain = path.join(tmp, "plain.tgz");
        fs.writeFileSync(plain, "not a tarball\n");
        await expect(readBundleInfo(plain)).rejects.toThrow(`${plain} is not a gzip-compressed tar: `);
        const notTar = path.join(tmp, "not-tar.tgz");
        fs.writeFileSync(notTar, zlib.gzipSync(Buffer.alloc(1024, "x")));
        await expect(readBundleInfo(notTar)).rejects.toThrow(`${notTar} is not a gzip-compressed tar: `);
        const whole = fs.readFileSync(
            await tarball([
                ["bundle/big", Buffer.alloc(64 * 1024, 1)],
                ["bundle/star.json", star({ nodeVersion: "1.2.3" })],
            ]),
        );
        const cut = path.join(tmp, "cut.tgz");
        fs.writeFileSync(cut, whole.subarray(0, whole.length >> 1));
        await expect(readBundleInfo(cut)).rejects.toThrow(`${cut} is not a gzip-compressed tar: `);
        await expect(readBundleInfo(path.join(tmp, "missing.tgz"))).rejects.toThrow("ENOENT");
    });

    test("stops reading once star.json is read: a tarball cut after it still answers", async () => {
        const whole = fs.readFileSync(
            await tarball([
                ["bundle/star.json", star({ nodeVersion: "20.18.1" })],
                ["bundle/programs/server/big", Buffer.alloc(4 << 20, 7)],
            ]),
        );
        const cut = path.join(tmp, "cut-after.tgz");
        fs.writeFileSync(cut, whole.subarray(0, whole.length - 64));
        expect((await readBundleInfo(cut)).nodeVersion).toBe("20.18.1");
    });

    test("the sample bundle: its star.json's version, another with --node-version; the build stays deterministic", () => {
        const a = buildBundle(path.join(tmp, "sample-a.tgz"), "a");
        const again = buildBundle(path.join(tmp, "sample-a2.tgz"), "a");
        const old = buildBundle(path.join(tmp, "sample-14.tgz"), "a", null, { nodeVersion: "14.21.4" });
        expect(again.sha256).toBe(a.sha256);
        expect(old.sha256).not.toBe(a.sha256);
        const source = JSON.parse(fs.readFileSync(path.join(__dirname, "../../sample-app/bundle/star.json"), "utf8"));
        return Promise.all([readBundleInfo(a.path), readBundleInfo(old.path)]).then(([ai, oi]) => {
            expect(ai).toEqual({
                nodeVersion: source.nodeVersion,
                nodeVersionFrom: "bundle/star.json",
                npmVersion: source.npmVersion,
                meteorRelease: source.meteorRelease,
            });
            expect(oi.nodeVersion).toBe("14.21.4");
        });
    }, 60_000);
});

describe("resolveNodeVersion", () => {
    test("auto: the bundle's version; an explicit one wins", async () => {
        const file = await tarball([["bundle/star.json", star({ nodeVersion: "14.21.4" })]]);
        expect(await resolveNodeVersion("auto", file)).toBe("14.21.4");
        expect(await resolveNodeVersion("20.18.1", file)).toBe("20.18.1");
    });

    test.each([
        [
            "a bundle that records no version",
            () => tarball([["bundle/main.js", "x"]]),
            (f: string) =>
                `meteor-do:nodeVersion is "auto", but the bundle ${f} records no Node.js version (no nodeVersion in bundle/star.json, no bundle/.node_version.txt; \`meteor build\` writes them): set meteor-do:nodeVersion to the exact version X.Y.Z the app needs`,
        ],
        [
            "a bundle whose star.json is broken",
            () => tarball([["bundle/star.json", "{"]]),
            (f: string) =>
                `meteor-do:nodeVersion is "auto", but the bundle's Node.js version cannot be read: ${f}: bundle/star.json is not valid JSON`,
        ],
    ] as [string, () => Promise<string>, (f: string) => string][])(
        "auto with %s fails as a config error naming nodeVersion",
        async (_what, make, message) => {
            const file = await make();
            await expect(resolveNodeVersion("auto", file)).rejects.toThrow(
                `invalid stack configuration:\n  - ${message(file)}`,
            );
        },
    );
});
