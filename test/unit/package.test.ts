// The README's "MeteorSite in your own program" example, as another Pulumi program would have it: this
// package built (`npm run build`) and installed under node_modules/meteor-do with its dependencies, the
// example type-checked against package.json's types, then run under the mocks from the built JavaScript,
// which must find its templates and host scripts beside it and register what index.ts registers.
import { execFileSync, spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { inStack, recorded, runProgram, tempBundle, useMocks } from "../support/mocks";

jest.setTimeout(300_000);

const root = path.resolve(__dirname, "../..");
const pkg = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));
let dir: string;
let installed: string;
let tsc: SpawnSyncReturns<string>;

/** The first ```ts block of the README section `heading`. */
function readmeExample(heading: string): string {
    const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
    const section = readme.split(`\n## ${heading}\n`)[1]?.split("\n## ")[0] ?? "";
    const block = /```ts\n([\s\S]*?)```/.exec(section);
    if (!block) throw new Error(`README section "${heading}" has no \`\`\`ts block`);
    return block[1];
}

beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-package-"));
    installed = path.join(dir, "node_modules", "meteor-do");
    fs.mkdirSync(installed, { recursive: true });
    execFileSync(
        process.execPath,
        [
            require.resolve("ts-node/dist/bin"),
            "--transpile-only",
            "scripts/build.ts",
            "--out",
            path.join(installed, "bin"),
        ],
        { cwd: root, stdio: "pipe" },
    );
    fs.copyFileSync(path.join(root, "package.json"), path.join(installed, "package.json"));
    // The program's own dependencies: the package's runtime dependencies and Node's types, nothing else.
    for (const dep of [...Object.keys(pkg.dependencies), "@types/node"]) {
        const link = path.join(dir, "node_modules", dep);
        fs.mkdirSync(path.dirname(link), { recursive: true });
        fs.symlinkSync(path.join(root, "node_modules", dep), link);
    }
    fs.writeFileSync(path.join(dir, "index.ts"), readmeExample("MeteorSite in your own program"));
    fs.writeFileSync(
        path.join(dir, "tsconfig.json"),
        JSON.stringify({
            compilerOptions: {
                strict: true,
                module: "commonjs",
                target: "es2022",
                esModuleInterop: true,
                types: ["node"],
                outDir: "out",
            },
            files: ["index.ts"],
        }),
    );
    tsc = spawnSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-p", dir], { encoding: "utf8" });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test("package.json's main and types are built files", () => {
    expect(fs.existsSync(path.join(installed, pkg.main))).toBe(true);
    expect(fs.existsSync(path.join(installed, pkg.types))).toBe(true);
});

test("the README example type-checks against the built package and compiles", () => {
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);
});

test("run from the built JavaScript, the example registers what this project's program registers", async () => {
    const fixture = tempBundle("package-");
    const config = { bundle: fixture.bundle, appCount: "2" };
    await runProgram(config);
    const ours = recorded.map((r) => `${r.type}::${r.name}`).sort();

    await useMocks();
    pulumi.runtime.setAllConfig(Object.fromEntries(Object.entries(config).map(([k, v]) => [`shop:${k}`, v])));
    const example = (await import(path.join(dir, "out", "index.js"))).default;
    const outputs = await inStack(example);
    fixture.remove();
    const theirs = recorded
        .map((r) => `${r.type}::${r.name}`.replace("MeteorSite::shop", "MeteorSite::meteor-do"))
        .sort();
    expect(theirs).toEqual(ours);
    expect(outputs.url).toBe("https://198.51.100.10");
});
