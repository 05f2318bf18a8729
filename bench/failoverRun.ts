// bench:failover's body (bench/failover.ts sets the engine's data dir and prefix, then loads this).
import { DO_ACTION_MS } from "../test/e2e/engine/doApi";
import { NODE_VERSION } from "../test/e2e/engine/nodeDist";
import { powerOn } from "../test/e2e/engine/hosts";
import { preflight } from "../test/e2e/engine/preflight";
import { LocalStack } from "../test/e2e/engine/stack";
import { firstGoodAnswer, killActive, pairReady } from "../test/e2e/failover";
import { Scenario, VPC_RANGE } from "../test/e2e/scenario";
import { sleep } from "../test/support/wait";

const TARGET_MS = 5000;
const argv = process.argv.slice(2);
const kills = Number(argv[argv.indexOf("--kills") + 1] || 5);
const keep = argv.includes("--keep");
const started = Date.now();
const log = (msg: string) =>
    process.stderr.write(`[bench:failover ${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}\n`);

function median(xs: number[]): number {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

export async function main(): Promise<void> {
    if (!Number.isInteger(kills) || kills < 1 || kills > 50) throw new Error(`--kills must be 1 to 50, not ${kills}`);
    preflight();
    const stack = new LocalStack({ stack: "bench", vpcRange: VPC_RANGE, log });
    await stack.teardown();
    stack.removeUpFiles();
    const s = new Scenario(stack, log);
    const timesMs: (number | null)[] = [];
    let upSeconds = 0;
    try {
        stack.snapshotProgram();
        const image = stack.image();
        s.nodeDistUrl = await stack.network(image.path);
        s.nodeVersion = NODE_VERSION;
        const bundle = await s.bundle("v1", ["--release", "bench-v1"]);
        const api = stack.doApi!;
        const config = {
            ...s.config(bundle),
            appCount: "1",
            lbCount: "2",
            failoverApiToken: api.token,
            digitaloceanApiUrl: api.url,
        };
        const up = await s.up("lbCount 2", config);
        upSeconds = Math.round(up.ms / 100) / 10;
        if (!up.ok) throw new Error(`the up failed: ${up.errors.join("; ").slice(0, 2000)}`);
        s.site = String(up.outputs?.lbReservedIp);
        // With lbCount 2 no Pulumi resource assigns the address: the first LB's keepalived does.
        if (!(await firstGoodAnswer(s.site, 60000))) throw new Error(`${s.site} never answered after the up`);
        if (!(await pairReady(stack, 60000))) throw new Error("keepalived did not run on both LBs");
        for (let i = 1; i <= kills; i++) {
            const t = await killActive(stack, s.site, "power-off");
            timesMs.push(t.ms);
            log(`kill ${i}/${kills}: ${t.from} off, ${t.to} answered after ${t.ms} ms (assigns: ${t.assigns})`);
            await powerOn(t.from);
            if (!(await pairReady(stack, 60000))) throw new Error(`keepalived did not come back on ${t.from}`);
            await sleep(3000); // the recovered LB settles as the standby before the next kill
        }
    } finally {
        if (!keep) await stack.teardown();
    }
    const measured = timesMs.filter((t): t is number => t !== null);
    const result = {
        bench: "failover",
        kills,
        failoverMs: timesMs,
        medianMs: measured.length ? median(measured) : null,
        maxMs: measured.length === kills ? Math.max(...measured) : null,
        targetMs: TARGET_MS,
        ok: measured.length === kills && Math.max(...measured) <= TARGET_MS,
        upSeconds,
        actionMs: DO_ACTION_MS,
    };
    console.log(JSON.stringify(result));
    process.exitCode = result.ok ? 0 : 1;
}
