// The local stack's up and destroy (scripts/local.ts sets the data dir and prefix first): the e2e's engine
// (test/e2e/engine) with a config of the user's, left running behind a forward on 127.0.0.1.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { projectRoot } from "../components/config/schema";
import { NODE_VERSION } from "../test/e2e/engine/nodeDist";
import { preflight } from "../test/e2e/engine/preflight";
import { LocalStack } from "../test/e2e/engine/stack";
import type { JournalEntry } from "../test/e2e/engine/state";
import * as topo from "../test/e2e/engine/topology";
import { alive } from "../test/support/processes";
import { localConfig } from "./local-config";
import { ensureForward, stopForward } from "./local-forward";

export interface UpOptions {
    /** The stack file; undefined: Pulumi.local.yaml when it exists, else Pulumi.yaml's defaults only. */
    configFile?: string;
    port: number;
}

const VPC_RANGE = "10.30.0.0/24";
const say = (msg: string) => process.stdout.write(`${msg}\n`);
const stack = new LocalStack({ stack: "local", vpcRange: VPC_RANGE, log: (m) => process.stderr.write(`  ${m}\n`) });

/** A state file whose hosts are gone (the machine rebooted, or someone stopped them) cannot be rolled. */
function checkRunning(): void {
    const state = topo.loadState();
    if (!state) return;
    const gone = Object.values(state.hosts).filter((h) => !alive(h.pid) || !topo.netnsExists(h.netns));
    if (gone.length)
        throw new Error(
            `the local stack in ${topo.DATA_DIR} is not running any more (${gone.map((h) => h.name).join(", ")}): ` +
                "remove it with npm run up -- --local --destroy, then up again",
        );
}

/** The Commands that ran, in start order, with their start offset and duration: the roll, host by host. */
function commandLog(journal: JournalEntry[]): string[] {
    const ran = journal.filter((j) => j.type.startsWith("command:remote:") && j.action !== "same");
    const total = journal.filter((j) => j.type.startsWith("command:remote:")).length;
    const t0 = Math.min(...ran.map((j) => j.startedAt));
    const lines = ran
        .sort((a, b) => a.startedAt - b.startedAt)
        .map((j) => {
            const at = ((j.startedAt - t0) / 1000).toFixed(1).padStart(6);
            const secs = (j.ms / 1000).toFixed(1).padStart(5);
            return `  +${at}s ${secs}s  ${j.action.padEnd(7)} ${j.name}`;
        });
    return [`${ran.length} of ${total} Commands ran`, ...lines];
}

function ensureBundle(bundle: { file: string; isSample: boolean }): void {
    if (fs.existsSync(bundle.file)) return;
    if (!bundle.isSample)
        throw new Error(
            `bundle ${bundle.file} does not exist; build it with \`meteor build <dir> --server-only\` (docs/your-app.md)`,
        );
    say(`building the sample bundle ${path.relative(projectRoot, bundle.file)}`);
    const r = spawnSync(process.execPath, [path.join(projectRoot, "sample-app/build.js"), "--out", bundle.file], {
        stdio: ["ignore", "ignore", "inherit"],
    });
    if (r.status !== 0) throw new Error("the sample bundle failed to build");
}

export async function up(opts: UpOptions): Promise<boolean> {
    preflight();
    if (spawnSync("sh", ["-c", "command -v socat"], { stdio: "ignore" }).status !== 0)
        throw new Error("missing socat (the forward to 127.0.0.1): apt-get install -y socat");
    checkRunning();
    const defaultFile = path.join(projectRoot, "Pulumi.local.yaml");
    const file = opts.configFile ?? (fs.existsSync(defaultFile) ? defaultFile : undefined);
    if (file && !fs.existsSync(file)) throw new Error(`--config ${file}: no such file`);

    // A running stack keeps the image its hosts were booted from (a new image would remove the old one).
    const image = topo.loadState()?.image ?? stack.image().path;
    const nodeDistUrl = await stack.network(image);
    const local = localConfig(file, {
        nodeDistUrl,
        nodeVersion: NODE_VERSION,
        clientAddress: topo.PUBLIC_GATEWAY,
        vpcIpRange: VPC_RANGE,
        doApi: stack.doApi,
    });
    say(`config: ${local.source ?? "Pulumi.yaml defaults (no Pulumi.local.yaml, no --config)"}`);
    for (const note of local.notes) say(`  ${note}`);
    ensureBundle(local.bundle);
    say(`bundle: ${path.relative(projectRoot, local.bundle.file)}; Node.js ${NODE_VERSION} from the local mirror`);

    const result = await stack.up("local", local.config, local.secretKeys);
    // The request and result files hold the config's secrets and the outputs: the log and the state stay.
    for (const f of fs.readdirSync(topo.DATA_DIR))
        if (/^up-\d+(-result)?\.json$/.test(f)) fs.rmSync(path.join(topo.DATA_DIR, f), { force: true });
    for (const line of commandLog(result.journal)) say(line);
    const logFile = path.join(topo.DATA_DIR, "up-1.log");
    if (!result.ok) {
        for (const e of result.errors) process.stderr.write(`error: ${e}\n`);
        say(`up failed (log: ${logFile}); the stack is left as it was: fix the config and run again, or --destroy`);
        return false;
    }
    const target = String(result.outputs?.lbReservedIp ?? "");
    const forward = await ensureForward({ port: opts.port, target });
    const site = `https://127.0.0.1:${opts.port}`;
    say(`local stack up (state: ${topo.DATA_DIR}; forward ${forward}: 127.0.0.1:${opts.port} → ${target}:443)`);
    say(`  site:    ${site}/   (self-signed certificate: curl -k, or accept it in the browser)`);
    say(`  status:  ${site}/check-status`);
    say(`  remove:  npm run up -- --local --destroy`);
    return true;
}

/** Stops the forward, every host and server (by PID), removes the namespaces, the state and the data dir. */
export async function destroy(): Promise<void> {
    await stopForward();
    await stack.removeAll();
    for (const f of ["forward.log", "site.sock", "engine-state.json.tmp", "state.json.tmp"])
        fs.rmSync(path.join(topo.DATA_DIR, f), { force: true });
    const left = fs.existsSync(topo.DATA_DIR) ? fs.readdirSync(topo.DATA_DIR) : [];
    if (left.length === 0) fs.rmSync(topo.DATA_DIR, { recursive: true, force: true });
    else say(`left in ${topo.DATA_DIR} (not made by the local stack): ${left.join(", ")}`);
    say(`local stack removed (${topo.DATA_DIR})`);
}
