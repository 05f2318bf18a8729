// One `pulumi up` of the unmodified program under the e2e mocks, in a process of its own so that module
// state (the program's and the SDK's) is fresh each time, as it is for every real `pulumi up`.
// Usage (stack.ts does this): ts-node --transpile-only test/e2e/engine/up.ts <request.json>
//   request: { stack, config: {key: value}, secretKeys: [key], resultFile, program? (default: index.ts) }
// The result file (0600) gets { ok, outputs, journal, errors }.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { E2eMocks } from "./mocks";
import { JournalEntry } from "./state";
import { CLIENT_NS, DATA_DIR } from "./topology";

interface UpRequest {
    stack: string;
    config: Record<string, string>;
    secretKeys: string[];
    resultFile: string;
    program?: string;
}
export interface UpResult {
    ok: boolean;
    /** The stack outputs, secrets in plain text (the result file is 0600). */
    outputs?: Record<string, unknown>;
    journal: JournalEntry[];
    errors: string[];
}

const request: UpRequest = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const mocks = new E2eMocks();
// The operator's machine is the client side: the `ssh` of the program's hooks runs there, as Commands' do.
const binDir = fs.mkdtempSync(path.join(DATA_DIR, "bin-"));
const ssh = spawnSync("sh", ["-c", "command -v ssh"], { encoding: "utf8" }).stdout.trim();
fs.writeFileSync(path.join(binDir, "ssh"), `#!/bin/sh\nexec ip netns exec ${CLIENT_NS} ${ssh} "$@"\n`, { mode: 0o755 });
process.env.PATH = `${binDir}:${process.env.PATH}`;
const errors: string[] = [];
let outputs: Record<string, unknown> | undefined;
let finishing = false;

async function finish(): Promise<void> {
    if (finishing) return;
    finishing = true;
    // As the engine does once the program is done and every step succeeded: delete what it left out.
    if (errors.length === 0 && outputs !== undefined && !mocks.journal.some((j) => j.action === "failed"))
        await mocks.deleteRemoved();
    mocks.cleanup();
    fs.rmSync(binDir, { recursive: true, force: true });
    for (const j of mocks.journal) if (j.action === "failed" && j.error) errors.push(`${j.name}: ${j.error}`);
    const result: UpResult = {
        ok: errors.length === 0 && outputs !== undefined,
        outputs,
        journal: mocks.journal,
        errors,
    };
    fs.writeFileSync(request.resultFile, JSON.stringify(result, null, 2), { mode: 0o600 });
    process.exitCode = result.ok ? 0 : 1;
}

// A failed resource leaves its dependents waiting forever, so the run ends when nothing is left to do.
process.on("beforeExit", () => void finish());
process.on("unhandledRejection", (e) => {
    // The SDK re-raises a failed registration for each waiter; one line per distinct failure is enough.
    const message = String(e instanceof Error ? e.message : e);
    if (!errors.includes(message) && !mocks.journal.some((j) => j.error && message.includes(j.error)))
        errors.push(message);
});

(async () => {
    pulumi.runtime.setAllConfig(
        Object.fromEntries(Object.entries(request.config).map(([k, v]) => [`meteor-do:${k}`, v])),
        request.secretKeys.map((k) => `meteor-do:${k}`),
    );
    await pulumi.runtime.setMocks(mocks, "meteor-do", request.stack, false);
    const program: { default?: unknown } = await import(request.program ?? path.join(__dirname, "../../../index.ts"));
    const main = program.default ?? program;
    const exported: unknown = typeof main === "function" ? await main() : main;
    // Output values, secrets included: the file is 0600 and the scenario reads the site address from it.
    await new Promise<void>((resolve) =>
        pulumi.output(exported as pulumi.Inputs).apply((v) => {
            outputs = v as Record<string, unknown>;
            resolve();
        }),
    );
})().catch((e) => {
    errors.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
});
