// appCount 3 -> 4 under load: the new host joins the LB's ring only once its first cutover has passed the
// health gate (the LB lists it down until then), no request fails, and the time from the `up`'s start to
// the new host serving is a figure: capacity in minutes (the README adds DigitalOcean's droplet boot).
import { opsConfig } from "../opsCli";
import { firstWhere, lbErrorsSince, startSampler } from "../sampler";
import { APP_COUNT, Step } from "../scenario";

const step: Step = async (s) => {
    const { stack } = s;
    // Step 8 left a rollback recorded (hosts on v1 while bundle is v2): a new host cannot get v1 that way,
    // so v1 becomes the release first, the way docs/day-2.md ends a rollback.
    const base = { ...opsConfig(s), bundle: s.bundles.v1.file };
    const settled = await s.up("release v1, rollback record removed", base);
    s.check(settled.ok, "the up that makes v1 the release succeeds");

    const names = stack.appHosts().map((h) => h.name);
    const newName = names[0].replace(/-app-\d+$/, `-app-${APP_COUNT + 1}`);
    const loadStarted = Date.now();
    const load = await s.startLoad(6);
    const started = Date.now();
    const sampler = startSampler(s, [...names, newName]);
    const r = await s.up("appCount +1", { ...base, appCount: String(APP_COUNT + 1) });
    const samples = sampler.stop();
    await new Promise((resolve) => setTimeout(resolve, 2000)); // the new host takes its share of the load
    const summary = await load.stop();
    s.check(r.ok, "the up that adds a host succeeds");
    s.check(stack.appHosts().length === APP_COUNT + 1, `${APP_COUNT + 1} app hosts run`);
    const added = stack.appHosts().find((h) => h.name === newName);
    s.check(!!added && stack.currentRelease(added) === s.bundles.v1.sha256, `${newName} runs v1`);

    const cutover = r.journal.find((j) => j.name === `release-app-${APP_COUNT + 1}-cutover`);
    const listed = firstWhere(samples, (x) => !!x.peers && x.peers[newName] !== "absent");
    const serving = firstWhere(samples, (x) => x.peers?.[newName] === "serving");
    s.check(listed?.peers?.[newName] === "down", `the LB first lists ${newName} down (${listed?.peers?.[newName]})`);
    s.check(
        !!cutover && !!serving && serving.t >= cutover.startedAt,
        `it serves only after its first cutover started (serving at +${serving ? serving.t - started : "never"} ms, cutover at +${cutover ? cutover.startedAt - started : "?"} ms)`,
    );
    s.check(
        summary.failed === 0 && summary.requests > 100,
        `0 failed requests of ${summary.requests} (${summary.failures.slice(0, 3).join("; ")})`,
    );
    const servedBy = Object.values(summary.hostsByAddress).filter((m) => (m[newName] ?? 0) > 0).length;
    s.check(servedBy > 0, `${newName} answered requests of ${servedBy} client addresses`);
    s.figures.failedRequests[s.step] = summary.failed;
    if (summary.failed > 0) {
        s.log(`failed requests: ${summary.failures.join("; ")}`);
        for (const line of lbErrorsSince(s, loadStarted)) s.log(`  LB: ${line}`);
    }
    s.figures.scaleUp = {
        capacitySeconds: serving ? Math.round((serving.t - started) / 100) / 10 : -1,
        upSeconds: Math.round(r.ms / 100) / 10,
        requests: summary.requests,
        failedRequests: summary.failed,
        retriedRequests: summary.retried,
    };
};
export default step;
