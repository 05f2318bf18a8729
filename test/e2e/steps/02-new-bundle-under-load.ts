// Release v2 under load: no failed request, every host on v2, every DDP client back and resubscribed,
// one cutover per host (their durations are figures).
import { APP_COUNT, Step } from "../scenario";

const step: Step = async (s) => {
    const load = await s.startLoad(6);
    const r2 = await s.up("bundle v2", s.config(s.bundles.v2));
    const summary = await load.stop();
    s.figures.failedRequests[s.step] = summary.failed;
    s.figures.requests = { [s.step]: summary.requests };
    s.check(r2.ok, "the up succeeds");
    s.check(
        summary.failed === 0 && summary.requests > 100,
        `0 failed requests of ${summary.requests} (${summary.failures.slice(0, 3).join("; ")})`,
    );
    for (const h of s.stack.appHosts())
        s.check(s.stack.currentRelease(h) === s.bundles.v2.sha256, `${h.name} is on release v2`);
    const resubscribed = summary.ddp.filter((d) => d.resubscribed >= 1).length;
    s.check(
        resubscribed === summary.ddp.length && summary.ddp.length === 6,
        `every DDP client reconnected and resubscribed (${resubscribed}/${summary.ddp.length}; hosts seen ${summary.ddp.map((d) => d.hosts.join(">")).join(", ")})`,
    );
    for (const j of r2.journal.filter((x) => x.name.endsWith("-cutover") && x.action !== "same"))
        s.figures.cutoverMs[j.name.replace(/^release-|-cutover$/g, "")] = j.ms;
    s.check(
        Object.keys(s.figures.cutoverMs).length === APP_COUNT,
        `a cutover ran on each of the ${APP_COUNT} hosts (${JSON.stringify(s.figures.cutoverMs)})`,
    );
};
export default step;
