// components/env.ts: the app's environment from typed config, rendered as a systemd EnvironmentFile.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { AppEnvConfig, appEnv, buildAppEnv, envFileHash, minifySettings, renderEnvFile } from "../../components/env";

pulumi.runtime.setMocks(
    {
        newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
        call: (args) => {
            throw new Error(`unexpected call ${args.token}`);
        },
    },
    "meteor-do",
    "test",
    false,
);

const promiseOf = <T>(o: pulumi.Output<T>) => new Promise<T>((resolve) => o.apply(resolve));
const isSecret = <T>(o: pulumi.Output<T>) => (o as unknown as { isSecret: Promise<boolean> }).isSecret;

const base: AppEnvConfig = { appPort: 3000, trustedProxyCount: 0, appEnv: {} };

describe("appEnv", () => {
    test("sets every key from config, program keys first in a fixed order, then appEnv sorted", async () => {
        const env = await promiseOf(
            appEnv(
                {
                    appPort: 3100,
                    mongoUrl: pulumi.secret("mongodb://u:p@db.internal:27017/app"),
                    mongoOplogUrl: pulumi.secret("mongodb://u:p@db.internal:27017/local"),
                    meteorSettings: pulumi.secret('{ "public": { "a": 1 },\n  "private": "x" }'),
                    trustedProxyCount: 2,
                    oplogTooFarBehind: 5000,
                    stopGraceSeconds: 20,
                    appEnv: { ZED: "z", ALPHA: "a", MAIL_URL: "smtp://mail.internal:25" },
                },
                "https://app.example.com",
            ),
        );
        expect(Object.entries(env)).toEqual([
            ["NODE_ENV", "production"],
            ["PORT", "3100"],
            ["ROOT_URL", "https://app.example.com"],
            ["MONGO_URL", "mongodb://u:p@db.internal:27017/app"],
            ["MONGO_OPLOG_URL", "mongodb://u:p@db.internal:27017/local"],
            ["METEOR_SETTINGS", '{"public":{"a":1},"private":"x"}'],
            ["HTTP_FORWARDED_COUNT", "3"],
            ["METEOR_OPLOG_TOO_FAR_BEHIND", "5000"],
            ["STOP_GRACE_SECONDS", "20"],
            ["ALPHA", "a"],
            ["MAIL_URL", "smtp://mail.internal:25"],
            ["ZED", "z"],
        ]);
    });

    test("leaves out what is not configured; HTTP_FORWARDED_COUNT is 1 with no proxy in front of the LB", async () => {
        const env = await promiseOf(appEnv(base, pulumi.output("https://203.0.113.10")));
        expect(env).toEqual({
            NODE_ENV: "production",
            PORT: "3000",
            ROOT_URL: "https://203.0.113.10",
            HTTP_FORWARDED_COUNT: "1",
        });
    });

    test("appEnv may set STOP_GRACE_SECONDS (the sample app's) but none of the program's keys", async () => {
        const env = await promiseOf(
            appEnv({ ...base, stopGraceSeconds: 20, appEnv: { STOP_GRACE_SECONDS: "5" } }, "https://x"),
        );
        expect(env.STOP_GRACE_SECONDS).toBe("5");
        for (const key of ["PORT", "ROOT_URL", "MONGO_URL", "METEOR_SETTINGS", "HTTP_FORWARDED_COUNT", "NODE_ENV"]) {
            expect(() => appEnv({ ...base, appEnv: { [key]: "x" } }, "https://x")).toThrow(
                `appEnv may not set ${key}; the program sets it from stack config`,
            );
        }
        expect(() => appEnv({ ...base, appEnv: { "BAD-NAME": "x" } }, "https://x")).toThrow(
            'appEnv key "BAD-NAME" is not a valid variable name',
        );
        expect(() => appEnv({ ...base, trustedProxyCount: -1 }, "https://x")).toThrow(
            "trustedProxyCount must be an integer >= 0, got -1",
        );
        expect(() => appEnv({ ...base, appPort: 70000 }, "https://x")).toThrow(
            "appPort must be an integer port, got 70000",
        );
    });

    test("METEOR_SETTINGS are validated and minified; invalid ones fail without echoing them", () => {
        expect(minifySettings('{\n  "a": [1, 2],\n  "b": "x y"\n}')).toBe('{"a":[1,2],"b":"x y"}');
        expect(() => minifySettings('{"token":"s3cret"')).toThrow(/^meteorSettings is not valid JSON$/);
    });
});

describe("renderEnvFile", () => {
    const tricky: Record<string, string> = {
        METEOR_SETTINGS: JSON.stringify({ public: { q: 'say "hi"', path: "C:\\temp\\new" }, p: "$HOME `id` $(id)" }),
        SPACES: "  leading and trailing  ",
        HASH: "a # not a comment",
        SINGLE: "it's",
        EMPTY: "",
        EQUALS: "a=b=c",
        UNICODE: "grüße ✓",
    };

    test('quotes every value and escapes exactly \\ " ` $', () => {
        expect(renderEnvFile(tricky)).toBe(
            [
                "# Written by meteor-do (components/env.ts). systemd EnvironmentFile syntax.",
                'METEOR_SETTINGS="{\\"public\\":{\\"q\\":\\"say \\\\\\"hi\\\\\\"\\",\\"path\\":\\"C:\\\\\\\\temp\\\\\\\\new\\"},\\"p\\":\\"\\$HOME \\`id\\` \\$(id)\\"}"',
                'SPACES="  leading and trailing  "',
                'HASH="a # not a comment"',
                'SINGLE="it\'s"',
                'EMPTY=""',
                'EQUALS="a=b=c"',
                'UNICODE="grüße ✓"',
                "",
            ].join("\n"),
        );
    });

    test("round-trips through a shell parser (same double-quote escapes as systemd): values come back byte for byte", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-env-"));
        try {
            const file = path.join(dir, "app.env");
            fs.writeFileSync(file, renderEnvFile(tricky));
            const out = execFileSync("env", ["-i", "bash", "-c", 'set -a; . "$1"; set +a; env -0', "_", file], {
                encoding: "utf8",
            });
            const parsed = Object.fromEntries(
                out
                    .split("\0")
                    .filter(Boolean)
                    .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
            );
            for (const [k, v] of Object.entries(tricky)) expect(parsed[k]).toBe(v);
            expect(JSON.parse(parsed.METEOR_SETTINGS).public.q).toBe('say "hi"');
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    test("refuses newlines, CR and NUL in values and bad keys (without echoing values)", () => {
        expect(() => renderEnvFile({ A: "line1\nline2" })).toThrow("env value of A contains a newline, CR or NUL");
        expect(() => renderEnvFile({ A: "x\r" })).toThrow("env value of A contains a newline, CR or NUL");
        expect(() => renderEnvFile({ A: "x\0" })).toThrow("env value of A contains a newline, CR or NUL");
        expect(() => renderEnvFile({ "1A": "x" })).toThrow('env key "1A" is not a valid variable name');
    });
});

describe("buildAppEnv", () => {
    test("is secret whenever any input is secret, and only then", async () => {
        expect(await isSecret(buildAppEnv(base, "https://x"))).toBe(false);
        expect(await isSecret(buildAppEnv({ ...base, mongoUrl: pulumi.secret("mongodb://db/app") }, "https://x"))).toBe(
            true,
        );
        expect(await isSecret(buildAppEnv({ ...base, meteorSettings: pulumi.secret("{}") }, "https://x"))).toBe(true);
        expect(await isSecret(buildAppEnv(base, pulumi.secret("https://x")))).toBe(true);
    });

    test("renders the env file the hosts get, and its hash names the file", async () => {
        const text = await promiseOf(
            buildAppEnv({ ...base, mongoUrl: pulumi.secret("mongodb://db/app") }, "https://x"),
        );
        expect(text).toBe(
            '# Written by meteor-do (components/env.ts). systemd EnvironmentFile syntax.\nNODE_ENV="production"\nPORT="3000"\nROOT_URL="https://x"\nMONGO_URL="mongodb://db/app"\nHTTP_FORWARDED_COUNT="1"\n',
        );
        expect(envFileHash(text)).toBe(execFileSync("sha256sum", { input: text, encoding: "utf8" }).split(" ")[0]);
    });
});
