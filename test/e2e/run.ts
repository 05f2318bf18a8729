// `npm run e2e`: the unmodified program, under the mocks of engine/mocks.ts, against a local
// DigitalOcean-shaped topology of booted Debian 12 hosts (engine/), through the steps in steps/ in order.
//   npm run e2e               run the scenario, then tear everything down
//   npm run e2e -- --keep     run it and leave the topology up; writes topology.json
//   npm run e2e -- --down     stop every host and server and remove every namespace it made
// The last line of output is one JSON object with the figures.
import * as fs from "fs";
import * as path from "path";
import { ROOT } from "../support/files";
import { NODE_VERSION } from "./engine/nodeDist";
import { describeStack, exportDeployKeys } from "./engine/byHand";
import { preflight } from "./engine/preflight";
import { LocalStack } from "./engine/stack";
import { loadState } from "./engine/topology";
import { Scenario, Step, VPC_RANGE } from "./scenario";

const TOPOLOGY_JSON = path.join(ROOT, "topology.json");
const STEPS_DIR = path.join(__dirname, "steps");
const argv = process.argv.slice(2);
const keep = argv.includes("--keep");
const started = Date.now();

function log(msg: string): void {
    process.stderr.write(`[e2e ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);
}

/** The steps in file order; "03-broken-bundle.ts" reports as "3-broken-bundle". */
async function loadSteps(): Promise<{ name: string; run: Step }[]> {
    const files = fs.readdirSync(STEPS_DIR).filter((f) => /^\d+-[a-z0-9-]+\.ts$/.test(f));
    files.sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
    const steps = [];
    for (const f of files) {
        const mod: { default: Step } = await import(path.join(STEPS_DIR, f));
        steps.push({ name: f.replace(/^0*(\d+)-(.*)\.ts$/, "$1-$2"), run: mod.default });
    }
    return steps;
}

/** Image, network, Node.js mirror and the three bundles; the figures get the time each part took. */
async function prepare(s: Scenario): Promise<void> {
    const overlay = s.stack.snapshotProgram();
    if (overlay) s.figures.programOverlay = overlay;
    const image = s.stack.image();
    s.figures.image = { key: image.key, cached: image.cached, seconds: image.seconds };
    const t = Date.now();
    s.nodeDistUrl = await s.stack.network(image.path);
    s.nodeVersion = NODE_VERSION;
    const [v1, v2, broken] = await Promise.all([
        s.bundle("v1", ["--release", "e2e-v1"]),
        s.bundle("v2", ["--release", "e2e-v2"]),
        s.bundle("broken", ["--release", "e2e-broken", "--broken=unhealthy"]),
    ]);
    s.bundles = { v1, v2, broken };
    s.figures.prepareSeconds = Math.round((Date.now() - t) / 100) / 10;
    const short = (b: { sha256: string }) => b.sha256.slice(0, 12);
    log(
        `network, Node ${s.nodeVersion} mirror at ${s.nodeDistUrl}, bundles v1 ${short(v1)} v2 ${short(v2)} broken ${short(broken)}`,
    );
}

async function scenario(s: Scenario): Promise<void> {
    preflight();
    // Fresh start: anything left from an earlier run (by its own state file) goes first.
    await s.stack.teardown();
    fs.rmSync(TOPOLOGY_JSON, { force: true });
    s.stack.removeUpFiles();
    const steps = await loadSteps();
    await prepare(s);
    for (const step of steps) {
        s.step = step.name;
        s.figures.steps[step.name] = "pass";
        await step.run(s);
    }
    if (keep) {
        const topology = describeStack(s.stack, s.outputs, exportDeployKeys(s.stack));
        fs.writeFileSync(TOPOLOGY_JSON, JSON.stringify(topology, null, 2) + "\n");
    }
}

async function main(): Promise<void> {
    const stack = new LocalStack({ stack: "e2e", vpcRange: VPC_RANGE, log });
    // Interrupted: stop what we started (by PID, via the state file) unless asked to keep it.
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.once(signal, () => {
            log(`${signal}: ${keep ? "leaving the topology up (npm run e2e -- --down)" : "tearing down"}`);
            void (keep ? Promise.resolve() : stack.teardown()).finally(() => process.exit(130));
        });
    }
    if (argv.includes("--down")) {
        await stack.removeAll();
        fs.rmSync(TOPOLOGY_JSON, { force: true });
        log("topology removed");
        return;
    }
    const s = new Scenario(stack, log);
    try {
        await scenario(s);
    } catch (e) {
        s.problems.push(`aborted${s.step ? ` in ${s.step}` : ""}: ${e instanceof Error ? e.message : String(e)}`);
        if (s.step) s.figures.steps[s.step] = "fail";
        log(`ABORTED: ${e instanceof Error ? e.stack : String(e)}`);
    } finally {
        const last = loadState();
        s.figures.userDataBooted = last?.userDataBooted ?? s.figures.userDataBooted;
        s.figures.hosts = last ? Object.keys(last.hosts).length : s.figures.hosts;
        if (!keep) await stack.teardown();
        else if (fs.existsSync(TOPOLOGY_JSON))
            log(`topology left running; see ${TOPOLOGY_JSON}; remove it with npm run e2e -- --down`);
    }
    s.figures.wallSeconds = Math.round((Date.now() - started) / 100) / 10;
    s.figures.ok = s.problems.length === 0;
    s.figures.problems = s.problems;
    process.stdout.write(JSON.stringify(s.figures) + "\n");
    process.exitCode = s.problems.length === 0 ? 0 : 1;
}

void main();
