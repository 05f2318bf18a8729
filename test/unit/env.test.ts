// components/env.ts: the app's environment from typed config, rendered as a systemd EnvironmentFile.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import {
    AppEnvConfig,
    appEnv,
    appEnvProblems,
    buildAppEnv,
    envFileHash,
    minifySettings,
    renderEnvFile,
    unsafeEnvName,
} from "../../components/env";

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
                `appEnv sets ${key}, which the program sets itself`,
            );
        }
        expect(() => appEnv({ ...base, appEnv: { "BAD-NAME": "x" } }, "https://x")).toThrow(
            'appEnv has the name "BAD-NAME": names must match [A-Za-z_][A-Za-z0-9_]*',
        );
        expect(() => appEnv({ ...base, trustedProxyCount: -1 }, "https://x")).toThrow(
            "trustedProxyCount is -1: must be an integer from 0 to 10",
        );
        expect(() => appEnv({ ...base, appPort: 70000 }, "https://x")).toThrow(
            "appPort is 70000: must be an unprivileged port from 1024 to 65535",
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
    test("is always secret: any value may be one, whether or not it was set with --secret", async () => {
        expect(await isSecret(buildAppEnv(base, "https://x"))).toBe(true);
        expect(await isSecret(buildAppEnv({ ...base, appEnv: { MAIL_FROM: "a@b.c" } }, "https://x"))).toBe(true);
        expect(await isSecret(buildAppEnv({ ...base, mongoUrl: pulumi.secret("mongodb://db/app") }, "https://x"))).toBe(
            true,
        );
    });

    test("an appEnv given as a (secret) Output: its values reach the file", async () => {
        const extra = pulumi.secret({ MAIL_URL: "smtp://u:pw@mail:587" });
        expect(await promiseOf(buildAppEnv({ ...base, appEnv: extra }, "https://x"))).toContain(
            'MAIL_URL="smtp://u:pw@mail:587"',
        );
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

describe("appEnvProblems: the names and values config refuses at preview (values never shown)", () => {
    const key = "meteor-do:appEnv";
    test.each([
        ["NODE_OPTIONS", "--require ./hook.js"],
        ["LD_PRELOAD", "/tmp/x.so"],
        ["LD_LIBRARY_PATH", "/tmp"],
        ["NODE_TLS_REJECT_UNAUTHORIZED", "0"],
        ["NODE_EXTRA_CA_CERTS", "/tmp/ca.pem"],
        ["PATH", "/tmp/bin:/usr/bin"],
        ["NODE_PATH", "/tmp/modules"],
        ["OPENSSL_CONF", "/tmp/engine.cnf"],
        ["SSL_CERT_FILE", "/tmp/ca.pem"],
        ["BASH_ENV", "/tmp/rc"],
    ])("%s is refused unless listed in appEnvAllowUnsafe", (name, value) => {
        expect(appEnvProblems({ [name]: value }, [], key)).toEqual([
            `${key} sets ${name}, which changes how Node.js, TLS or the loader runs (PATH, NODE_OPTIONS, NODE_PATH, LD_*, NODE_TLS_*, NODE_EXTRA_CA_CERTS, OPENSSL_CONF, SSL_CERT_*, ...); if you mean it, list it in ${key}AllowUnsafe`,
        ]);
        expect(appEnvProblems({ [name]: value }, [name], key)).toEqual([]);
        expect(unsafeEnvName(name)).toBe(true);
    });

    test.each(["MAIL_URL", "NODE_ENVIRONMENT_LABEL", "TZ", "UV_THREADPOOL_SIZE", "PATHS", "MY_PATH", "KADIRA_APP_ID"])(
        "%s is an ordinary app variable",
        (name) => {
            expect(unsafeEnvName(name)).toBe(false);
            expect(appEnvProblems({ [name]: "v" }, [], key)).toEqual([]);
        },
    );

    test.each([
        ["a number", { N: 5 }, `${key}.N must be a string (its value is not shown)`],
        ["a newline", { N: "a\nS3cr3t" }, `${key}.N contains a newline, CR or NUL (its value is not shown)`],
        [
            "a value of 128 KiB",
            { BIG: "S3cr3t".repeat(22000) },
            `${key}.BIG is 132000 bytes: one variable must stay under 131072 bytes (128 KiB), or the app cannot start`,
        ],
    ])("%s: a problem that names the key and not the value", (_what, env, message) => {
        const problems = appEnvProblems(env, [], key);
        expect(problems).toEqual([message]);
        expect(problems.join()).not.toContain("S3cr3t");
    });

    test("the size limit is the kernel's: one string NAME=value plus its NUL under 128 KiB", () => {
        const limit = 128 * 1024 - "BIG=".length - 1;
        expect(appEnvProblems({ BIG: "x".repeat(limit - 1) }, [], key)).toEqual([]);
        expect(appEnvProblems({ BIG: "x".repeat(limit + 1) }, [], key)).toHaveLength(1);
        expect(() => minifySettings(JSON.stringify({ k: "x".repeat(128 * 1024) }))).toThrow(
            /^meteorSettings is \d+ bytes minified; METEOR_SETTINGS must stay under 131072 bytes \(128 KiB\), or the app cannot start$/,
        );
    });
});
