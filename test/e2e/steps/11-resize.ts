// appSize changed under load: the engine powers each droplet off and on (DigitalOcean's resize); the
// program's chain makes that one droplet at a time, each drained before (its pause) and undrained after
// (its resume), so no request fails and the LB never sends traffic to a droplet that is off.
import { lbErrorsSince, startSampler } from "../sampler";
import { Step } from "../scenario";

const step: Step = async (s) => {
    const { stack } = s;
    const hosts = stack.appHosts();
    const names = hosts.map((h) => h.name);
    const booted = Object.fromEntries(hosts.map((h) => [h.name, h.bootedAt]));
    const loadStarted = Date.now();
    const load = await s.startLoad(6);
    const sampler = startSampler(s, names, 100);
    const r = await s.up("appSize", { ...s.lastConfig, appSize: "s-2vcpu-4gb" });
    const samples = sampler.stop();
    const summary = await load.stop();
    s.check(r.ok, "the up that resizes succeeds");
    const rebooted = stack.appHosts().filter((h) => h.bootedAt !== booted[h.name]);
    s.check(rebooted.length === names.length, `every app droplet was powered off and on (${rebooted.length})`);

    const resized = r.journal
        .filter((j) => j.type.endsWith("droplet:Droplet") && /^app-\d+$/.test(j.name) && j.action === "update")
        .sort((a, b) => a.startedAt - b.startedAt);
    const overlaps = resized.filter((j, i) => i > 0 && j.startedAt < resized[i - 1].startedAt + resized[i - 1].ms);
    s.check(resized.length === names.length && overlaps.length === 0, `the droplets' resizes never overlap`);
    for (const d of resized) {
        const pause = r.journal.find((j) => j.name === `${d.name}-pause`);
        const resume = r.journal.find((j) => j.name === `${d.name}-resume`);
        s.check(
            !!pause && !!resume && pause.startedAt + pause.ms <= d.startedAt && resume.startedAt >= d.startedAt + d.ms,
            `${d.name}: paused (${pause?.ms} ms) before its resize, resumed (${resume?.ms} ms) after`,
        );
    }
    const maxOff = Math.max(0, ...samples.map((x) => x.off.length));
    s.check(maxOff === 1, `never more than one app droplet off at a time (at most ${maxOff} seen)`);
    const servedWhileOff = samples.filter((x) => x.off.some((h) => x.peers?.[h] === "serving")).length;
    s.check(servedWhileOff === 0, `the LB never had an off droplet in its ring (${servedWhileOff} samples)`);
    const last = samples.filter((x) => x.peers).pop();
    s.check(
        names.every((n) => last?.peers?.[n] === "serving"),
        `every host serves again (${JSON.stringify(last?.peers)})`,
    );
    s.check(
        summary.failed === 0 && summary.requests > 100,
        `0 failed requests of ${summary.requests} (${summary.failures.slice(0, 3).join("; ")})`,
    );
    const resubscribed = summary.ddp.filter((d) => d.resubscribed >= 1).length;
    s.check(
        resubscribed === summary.ddp.length,
        `every DDP client resubscribed (${resubscribed}/${summary.ddp.length})`,
    );
    s.figures.failedRequests[s.step] = summary.failed;
    if (summary.failed > 0) {
        s.log(`failed requests: ${summary.failures.join("; ")}`);
        for (const line of lbErrorsSince(s, loadStarted)) s.log(`  LB: ${line}`);
    }
    s.figures.resize = {
        upSeconds: Math.round(r.ms / 100) / 10,
        offSecondsPerHost: Object.fromEntries(resized.map((d) => [d.name, Math.round(d.ms / 100) / 10])),
        maxHostsOffAtOnce: maxOff,
        requests: summary.requests,
        failedRequests: summary.failed,
        retriedRequests: summary.retried,
    };
};
export default step;
