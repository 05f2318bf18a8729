import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { resolveNodeVersion } from "../../components/bundleInfo";
import { ConfigError, loadConfig } from "../../components/config";
import { tempBundle } from "../support/mocks";

// The app's runtime and environment as config reads them: nodeVersion auto, meteorSettingsFile, appEnv as
// a secret, appEnvAllowUnsafe. Every bad value is a row with the exact error, which never shows a value.

let dir: string;
const withStar = tempBundle("config-app-", "14.21.4");
const noStar = tempBundle("config-app-", null);
beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "config-app-"));
    fs.writeFileSync(path.join(dir, "settings.json"), '{\n  "public": { "x": 1 },\n  "stripeKey": "sk_Xy" }\n');
    fs.writeFileSync(path.join(dir, "broken.json"), '{ "stripeKey": "sk_Xy" ');
    fs.writeFileSync(path.join(dir, "list.json"), '["sk_Xy"]');
    fs.writeFileSync(path.join(dir, "big.json"), JSON.stringify({ blob: "sk_Xy".repeat(27000) }));
});
afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    withStar.remove();
    noStar.remove();
});

const load = (values: Record<string, string>) =>
    loadConfig((key) => ({ bundle: withStar.bundle, ...values })[key], "staging");

/** What a preview reports: config's problems, then the bundle's Node.js version (read before any resource). */
async function previewProblems(values: Record<string, string>): Promise<string[]> {
    try {
        const cfg = load(values);
        await resolveNodeVersion(cfg.app.nodeVersion, cfg.app.bundle.path);
    } catch (e) {
        if (e instanceof ConfigError) return e.problems;
        throw e;
    }
    return [];
}

const f = (name: string) => path.join(dir, name);
const unsafeText =
    "which changes how Node.js, TLS or the loader runs (PATH, NODE_OPTIONS, NODE_PATH, LD_*, NODE_TLS_*, NODE_EXTRA_CA_CERTS, OPENSSL_CONF, SSL_CERT_*, ...); if you mean it, list it in meteor-do:appEnvAllowUnsafe";

const table: [string, Record<string, string>, () => string][] = [
    [
        "appEnv NODE_OPTIONS",
        { appEnv: '{"NODE_OPTIONS":"--require /tmp/sk_Xy.js"}' },
        () => `meteor-do:appEnv sets NODE_OPTIONS, ${unsafeText}`,
    ],
    [
        "appEnv LD_PRELOAD",
        { appEnv: '{"LD_PRELOAD":"/tmp/sk_Xy.so"}' },
        () => `meteor-do:appEnv sets LD_PRELOAD, ${unsafeText}`,
    ],
    [
        "appEnv NODE_TLS_REJECT_UNAUTHORIZED",
        { appEnv: '{"NODE_TLS_REJECT_UNAUTHORIZED":"0"}' },
        () => `meteor-do:appEnv sets NODE_TLS_REJECT_UNAUTHORIZED, ${unsafeText}`,
    ],
    ["appEnv PATH", { appEnv: '{"PATH":"/tmp/sk_Xy"}' }, () => `meteor-do:appEnv sets PATH, ${unsafeText}`],
    [
        "appEnv NODE_EXTRA_CA_CERTS",
        { appEnv: '{"NODE_EXTRA_CA_CERTS":"/tmp/sk_Xy.pem"}' },
        () => `meteor-do:appEnv sets NODE_EXTRA_CA_CERTS, ${unsafeText}`,
    ],
    [
        "appEnv an unsafe name allowed for another one",
        { appEnv: '{"LD_PRELOAD":"/x.so"}', appEnvAllowUnsafe: '["NODE_OPTIONS"]' },
        () => `meteor-do:appEnv sets LD_PRELOAD, ${unsafeText}`,
    ],
    [
        "appEnvAllowUnsafe not a name",
        { appEnvAllowUnsafe: '["NODE-OPTIONS"]' },
        () => 'meteor-do:appEnvAllowUnsafe has "NODE-OPTIONS": names must match [A-Za-z_][A-Za-z0-9_]*',
    ],
    [
        "appEnv not a map",
        { appEnv: '["MAIL_URL=smtp://u:sk_Xy@mail"]' },
        () =>
            "meteor-do:appEnv must be a map of NAME: value (pulumi config set --path appEnv.NAME value); its value is not shown",
    ],
    [
        "appEnv a value with a newline",
        { appEnv: JSON.stringify({ KEY: "sk_Xy\nmore" }) },
        () => "meteor-do:appEnv.KEY contains a newline, CR or NUL (its value is not shown)",
    ],
    [
        "appEnv a value of 128 KiB",
        { appEnv: JSON.stringify({ BLOB: "sk_Xy".repeat(27000) }) },
        () =>
            "meteor-do:appEnv.BLOB is 135000 bytes: one variable must stay under 131072 bytes (128 KiB), or the app cannot start",
    ],
    [
        "meteorSettingsFile missing",
        { meteorSettingsFile: "settings/nope.json" },
        () =>
            `meteor-do:meteorSettingsFile "settings/nope.json" (${path.resolve(__dirname, "../..", "settings/nope.json")}): no such file; give a path relative to this project, e.g. settings/production.json`,
    ],
    [
        "meteorSettingsFile not JSON",
        { meteorSettingsFile: "<dir>/broken.json" },
        () => `meteor-do:meteorSettingsFile "${f("broken.json")}" (${f("broken.json")}) must be a JSON object`,
    ],
    [
        "meteorSettingsFile a JSON array",
        { meteorSettingsFile: "<dir>/list.json" },
        () => `meteor-do:meteorSettingsFile "${f("list.json")}" (${f("list.json")}) must be a JSON object`,
    ],
    [
        "meteorSettingsFile over 128 KiB",
        { meteorSettingsFile: "<dir>/big.json" },
        () =>
            `meteor-do:meteorSettingsFile "${f("big.json")}" (${f("big.json")}) is 135011 bytes minified; METEOR_SETTINGS must stay under 131072 bytes (128 KiB), or the app cannot start`,
    ],
    [
        "meteorSettings over 128 KiB",
        { meteorSettings: JSON.stringify({ blob: "sk_Xy".repeat(27000) }) },
        () =>
            "meteor-do:meteorSettings is 135011 bytes minified; METEOR_SETTINGS must stay under 131072 bytes (128 KiB), or the app cannot start (its value is secret and not shown)",
    ],
    [
        "meteorSettings and meteorSettingsFile both",
        { meteorSettings: '{"stripeKey":"sk_Xy"}', meteorSettingsFile: "<dir>/settings.json" },
        () => "meteor-do:meteorSettings and meteor-do:meteorSettingsFile are both set: set one of them",
    ],
    [
        "nodeVersion latest",
        { nodeVersion: "latest" },
        () =>
            'meteor-do:nodeVersion is "latest": must be auto (the version the bundle records) or an exact Node.js version X.Y.Z, e.g. 22.12.0',
    ],
    [
        "nodeVersion auto with a bundle without star.json",
        { bundle: noStar.bundle },
        () =>
            `meteor-do:nodeVersion is "auto", but the bundle ${noStar.bundle} records no Node.js version (no nodeVersion in bundle/star.json, no bundle/.node_version.txt; \`meteor build\` writes them): set meteor-do:nodeVersion to the exact version X.Y.Z the app needs`,
    ],
    ...["2GB", "32M", "5%", "101%", "1.5G", "-1", "max"].map((v): [string, Record<string, string>, () => string] => [
        `appMemoryMax ${v}`,
        { appMemoryMax: v },
        () =>
            `meteor-do:appMemoryMax is "${v}": must be a size of 64M or more with a K, M, G or T suffix (768M, 2G), a percentage of the droplet's RAM from 10% to 100% (90%), or infinity`,
    ]),
];

describe("bad values fail at preview, naming the key and never showing a value", () => {
    test.each(table)("%s", async (_name, values, expected) => {
        const resolved = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, v.replace("<dir>", dir)]));
        const problems = await previewProblems(resolved);
        expect(problems).toEqual([expected()]);
        expect(problems.join("\n")).not.toContain("sk_Xy");
    });
});

describe("good values", () => {
    test("appMemoryMax: 90% by default; sizes from 64M, percentages and infinity are taken as given", () => {
        expect(load({}).app.memoryMax).toBe("90%");
        for (const v of ["64M", "65536K", "2G", "1T", "10%", "100%", "infinity"])
            expect(load({ appMemoryMax: v }).app.memoryMax).toBe(v);
    });

    test("nodeVersion auto resolves to the bundle's; an exact version is taken as given", async () => {
        expect(load({}).app.nodeVersion).toBe("auto");
        expect(await resolveNodeVersion("auto", load({}).app.bundle.path)).toBe("14.21.4");
        expect(load({ nodeVersion: "20.18.1" }).app.nodeVersion).toBe("20.18.1");
    });

    test("meteorSettingsFile: the file's JSON, as a secret", async () => {
        const settings = load({ meteorSettingsFile: f("settings.json") }).app.meteorSettings!;
        expect(await pulumi.isSecret(settings)).toBe(true);
        const text = await new Promise<string>((resolve) => settings.apply(resolve));
        expect(JSON.parse(text)).toEqual({ public: { x: 1 }, stripeKey: "sk_Xy" });
    });

    test("appEnv is a secret map; an unsafe name listed in appEnvAllowUnsafe is accepted", async () => {
        const app = load({
            appEnv: JSON.stringify({ NODE_OPTIONS: "--max-old-space-size=1536", MAIL_FROM: "a@b.c" }),
            appEnvAllowUnsafe: '["NODE_OPTIONS"]',
        }).app;
        expect(app.envAllowUnsafe).toEqual(["NODE_OPTIONS"]);
        expect(await pulumi.isSecret(app.env)).toBe(true);
        expect(await new Promise((resolve) => app.env.apply(resolve))).toEqual({
            NODE_OPTIONS: "--max-old-space-size=1536",
            MAIL_FROM: "a@b.c",
        });
    });
});
