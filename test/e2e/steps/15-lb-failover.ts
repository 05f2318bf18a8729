// A standby LB (issue 14): `up` with lbCount 2 on the running one-LB stack adds the second LB while the
// reserved IP stays on the first (no failed request). Then, under HTTPS load with live DDP subscriptions:
// the active LB is powered off and the standby takes the address through the fake DigitalOcean API (the
// time to the first good answer is a figure; failed requests only inside that window; every DDP client
// back on the app host it had); the old LB comes back and the address stays; nginx stopped on the active
// fails over too; `npm run ops -- failover` moves it with no failed request but those in flight. Last,
// lbSize changes: the program's hooks hand the address over before each LB's resize, lb-1 after lb.
import { sleep } from "../../support/wait";
import { doApiLog } from "../engine/doApi";
import { initPid, powerOn } from "../engine/hosts";
import { holderOf } from "../engine/reservedIps";
import { assignsSince, killActive, LbResize, pairReady, roles, Takeover } from "../failover";
import { ops } from "../opsCli";
import { LoadSummary, Scenario, Step } from "../scenario";
import { tokenLeaks } from "../secrets";

/** The issue's target in emulation, from the kill to the first good answer. */
const TARGET_MS = 5000;
/** The DDP clients' heartbeat here (Meteor's client: 17.5 s), so they notice a dead LB within the step. */
const PING_MS = 2000;
/** A request sent this long before a kill may be in flight when it happens. */
const IN_FLIGHT_MS = 1000;

/** Failed requests sent outside [from - IN_FLIGHT_MS, to]. */
const outside = (l: LoadSummary, from: number, to: number) =>
    l.failedSentAt.filter((t) => t < from - IN_FLIGHT_MS || t > to).length;

/** lbSize changed under load: the LBs' resizes never overlap and neither is off while it holds the address. */
async function resizeBoth(s: Scenario, config: Record<string, string>, lb: string): Promise<LbResize> {
    const { stack } = s;
    // lb holds the address first, so each LB's hook has it to hand over: two moves, one before each resize.
    if (holderOf(s.site)?.name !== lb) {
        const moved = await ops(s, ["failover"]);
        s.check(moved.code === 0 && (await pairReady(stack, 30000)), `ops failover moved the address to ${lb} first`);
    }
    const booted = Object.fromEntries(stack.lbHosts().map((h) => [h.name, h.bootedAt]));
    const logFrom = doApiLog().length;
    const load = await s.startLoad(6, PING_MS);
    let [holderOff, maxOff, watching] = [0, 0, true];
    const watch = (async () => {
        while (watching) {
            const off = stack.lbHosts().filter((h) => initPid(h) === undefined);
            maxOff = Math.max(maxOff, off.length);
            if (off.some((h) => h.name === holderOf(s.site)?.name)) holderOff++;
            await sleep(100);
        }
    })();
    const up = await s.up("lbSize", { ...config, lbSize: "s-2vcpu-2gb" });
    const settled = await pairReady(stack, 60000);
    // Long enough for every DDP client's heartbeat to find a moved connection dead and reconnect.
    await sleep(3 * PING_MS + 2000);
    watching = false;
    await watch;
    const l = await load.stop();
    const rebooted = stack.lbHosts().filter((h) => h.bootedAt !== booted[h.name]).length;
    s.check(up.ok && settled && rebooted === 2, `the up resizes both LBs (${rebooted}), then one is active`);
    const order = up.journal
        .filter((j) => j.type.endsWith("droplet:Droplet") && j.name.startsWith("lb") && j.action === "update")
        .sort((a, b) => a.startedAt - b.startedAt);
    s.check(
        order.map((j) => j.name).join() === "lb-droplet,lb-1-droplet" &&
            order[1].startedAt >= order[0].startedAt + order[0].ms &&
            maxOff === 1,
        `lb-1 is resized after lb (${order.map((j) => `${j.name} ${j.ms} ms`).join(", ")}), one off at a time`,
    );
    const moves = doApiLog()
        .slice(logFrom)
        .filter((x) => x.method === "POST" && x.status === 201)
        .map((x) => x.at);
    const to = assignsSince(stack, logFrom);
    const lb1 = stack.lbHosts().find((h) => h.name !== lb)?.name;
    s.check(
        to.join() === `${lb1},${lb}` && holderOff === 0,
        `the address moved to ${to.join(", then ")} (one handover before each resize), never on an LB that was off`,
    );
    const inFlight = (t: number) => moves.some((m) => t >= m - IN_FLIGHT_MS && t <= m + IN_FLIGHT_MS);
    const failed = l.failedSentAt.filter((t) => !inFlight(t)).length;
    s.check(failed === 0, `lbSize: ${failed} failed requests not in flight (${l.failed} in all of ${l.requests})`);
    sameHost(s, l, "lbSize");
    return {
        failedRequests: failed,
        inFlightFailed: l.failed - failed,
        requests: l.requests,
        handovers: moves.length,
        seconds: Math.round(up.ms / 100) / 10,
    };
}

/** Every DDP client resubscribed, and always on one app host (returned). */
function sameHost(s: Scenario, l: LoadSummary, what: string): boolean {
    const moved = l.ddp.filter((c) => new Set(c.hosts).size !== 1);
    const stayed = l.ddp.filter((c) => c.resubscribed === 0);
    s.check(
        l.ddp.length > 0 && stayed.length === 0,
        `${what}: every DDP client resubscribed (${l.ddp.length - stayed.length}/${l.ddp.length})`,
    );
    const hosts = moved.map((c) => `${c.address}: ${c.hosts.join(">")}`).join(", ");
    return s.check(moved.length === 0, `${what}: every DDP client stayed on its app host ${hosts}`);
}

/** Kills the active LB under load; checks the takeover and the failures; returns it and the load. */
async function failover(s: Scenario, how: "power-off" | "nginx-stop", after?: (t: Takeover) => Promise<void>) {
    const load = await s.startLoad(6, PING_MS);
    const t = await killActive(s.stack, s.site, how);
    s.check(
        t.ms !== null && t.to !== undefined && t.to !== t.from,
        `${how} of ${t.from}: ${t.to} took the address, the site answered after ${t.ms} ms (target ${TARGET_MS})`,
    );
    // Long enough for every DDP client's heartbeat to find its connection dead and reconnect.
    await sleep(3 * PING_MS + 2000);
    if (after) await after(t);
    const l = await load.stop();
    const out = outside(l, t.killedAt, t.goodAt ?? Date.now());
    s.check(out === 0, `${how}: no failed request outside the failover window (${out} of ${l.failed} failed)`);
    return { t, l, same: sameHost(s, l, how) };
}

const step: Step = async (s) => {
    const { stack } = s;
    const api = stack.doApi;
    if (!api) throw new Error("the fake DigitalOcean API is not running");
    const first = stack.lbHost();
    const config = { ...s.lastConfig, lbCount: "2", failoverApiToken: api.token, digitaloceanApiUrl: api.url };

    // lbCount 1 -> 2 under load: the address never leaves the first LB.
    let load = await s.startLoad(6);
    const logFrom = doApiLog().length;
    let away = 0;
    let watching = true;
    const watch = (async () => {
        while (watching) {
            if (holderOf(s.site)?.name !== first.name) away++;
            await sleep(200);
        }
    })();
    const up = await s.up("lbCount 2", config);
    const ready = up.ok && (await pairReady(stack, 60000));
    watching = false;
    await watch;
    let l = await load.stop();
    s.check(up.ok && ready, `the up with lbCount 2 adds an LB with keepalived on both (${stack.lbHosts().length})`);
    const early = assignsSince(stack, logFrom).filter((n) => n !== first.name);
    s.check(away === 0 && early.length === 0, `the address stayed on ${first.name} (assigns elsewhere: ${early})`);
    s.check(l.failed === 0, `0 failed of ${l.requests} requests during the up (${l.failures.slice(0, 3)})`);
    if (!ready) return;

    // Power off the active LB; then it comes back and must not take the address again.
    let movedBack = true;
    const off = await failover(s, "power-off", async (t) => {
        const from = doApiLog().length;
        await powerOn(t.from);
        const settled = await pairReady(stack, 60000);
        await sleep(3000);
        const back = assignsSince(stack, from);
        const r = roles(stack);
        movedBack = holderOf(s.site)?.name !== t.to || back.length > 0;
        s.check(
            settled && !movedBack && r[t.from] === "standby",
            `${t.from} back on as ${r[t.from]}: the address stays on ${t.to} (assigns since: ${back})`,
        );
    });

    // Stop nginx on the active LB (the droplet stays up): its keepalived's check fails over.
    const stop = await failover(s, "nginx-stop", async (t) => {
        const host = stack.hosts().find((h) => h.name === t.from)!;
        stack.sh(host, "systemctl start nginx");
        const settled = await pairReady(stack, 30000);
        await sleep(2000);
        s.check(
            settled && holderOf(s.site)?.name === t.to,
            `nginx back on ${t.from} (${roles(stack)[t.from]}): the address stays on ${t.to}`,
        );
    });

    // A planned move: npm run ops -- failover.
    const before = holderOf(s.site)?.name;
    load = await s.startLoad(6);
    const started = Date.now();
    const r = await ops(s, ["failover"]);
    const moved = holderOf(s.site)?.name;
    await sleep(2000);
    l = await load.stop();
    const moveAt = doApiLog().find((x) => x.at >= started && x.method === "POST")?.at ?? Date.now();
    const opsFailed = outside(l, moveAt, moveAt + IN_FLIGHT_MS);
    s.check(r.code === 0 && moved !== before, `ops failover moved the address ${before} -> ${moved}`);
    s.check(opsFailed === 0, `ops failover: ${opsFailed} failed requests not in flight (${l.failed} in all)`);

    s.figures.lbResize = await resizeBoth(s, config, first.name);

    const leaks = tokenLeaks(stack, api.token);
    s.check(leaks.length === 0, `the API token is in no log, output or Command line (${leaks.join(", ")})`);
    s.figures.lbFailover = {
        powerOffMs: off.t.ms,
        nginxStopMs: stop.t.ms,
        targetMs: TARGET_MS,
        failedRequests: off.l.failed,
        requests: off.l.requests,
        windowMs: off.t.ms,
        lastFailureMs: off.l.failed ? Math.max(...off.l.failedSentAt) - off.t.killedAt : null,
        sameHost: off.same && stop.same,
        movedBack,
        opsFailedRequests: opsFailed,
    };
};
export default step;
