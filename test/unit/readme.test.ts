import * as fs from "fs";
import * as path from "path";
import { configReference, readmeWithReference } from "../../scripts/config-docs";
import { configSchema } from "../../components/config";

const root = path.resolve(__dirname, "../..");
const readme = fs.readFileSync(path.join(root, "README.md"), "utf8");
const packageJson = (): { scripts: Record<string, string> } =>
    JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8"));

describe("README", () => {
    test("the configuration reference is the one Pulumi.yaml generates (run `npm run docs:config`)", () => {
        expect(readmeWithReference(readme)).toBe(readme);
    });

    test("the reference has one row per config key", () => {
        const rows = configReference()
            .split("\n")
            .filter((l) => /^\| `/.test(l));
        expect(rows.map((r) => r.split("`")[1])).toEqual(Object.keys(configSchema()));
    });

    test("the test command is the one .ci/run calls, and `npm test` runs scripts/test.sh", () => {
        expect(readme).toContain("\n```sh\nnpm test\n```\n");
        expect(fs.readFileSync(path.join(root, ".ci/run"), "utf8")).toMatch(/\nnpm test\n$/);
        expect(packageJson().scripts.test).toBe("bash scripts/test.sh");
    });

    test("every npm script the README names exists", () => {
        const scripts = packageJson().scripts;
        const named = [...readme.matchAll(/npm run ([a-z0-9:]+)/g)].map((m) => m[1]);
        expect(named.length).toBeGreaterThan(5);
        for (const name of new Set(named)) expect([name, name in scripts]).toEqual([name, true]);
    });
});
