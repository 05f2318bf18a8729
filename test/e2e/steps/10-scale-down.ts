// 4 -> 3 under steady load with DDP clients on the leaving host, which is named (removeHosts: app-2):
// its retire Command's delete ran before its droplet was destroyed, the LB had it out of the ring before
// its app stopped, no request failed, every DDP client on it resubscribed on another host, and the other
// droplets are the same droplets under the same names.
import { appHost, lbErrorsSince, startSampler } from "../sampler";
import { Step } from "../scenario";

const step: Step = async (s) => {
    const { stack } = s;
    const leaving = appHost(s, "app-2")?.name ?? "app-2";
    const before = Object.fromEntries(stack.appHosts().map((h) => [h.name, h.dropletId]));
    const loadStarted = Date.now();
    const load = await s.startLoad(12);
    const sampler = startSampler(s, Object.keys(before));
    const r = await s.up("removeHosts app-2", { ...s.lastConfig, appCount: "3", removeHosts: '["app-2"]' });
    const samples = sampler.stop();
    const summary = await load.stop();
    s.check(r.ok, "the up that removes app-2 succeeds");
    const after = Object.fromEntries(stack.appHosts().map((h) => [h.name, h.dropletId]));
    const survivors = Object.keys(before).filter((n) => n !== leaving);
    s.check(
        JSON.stringify(Object.keys(after)) === JSON.stringify(survivors) &&
            survivors.every((n) => after[n] === before[n]),
        `${survivors.join(", ")} remain, the same droplets (${JSON.stringify(after)})`,
    );

    const retire = r.journal.find((j) => j.name === "app-2-retire" && j.action === "delete");
    const droplet = r.journal.find((j) => j.name === "app-2" && j.type.endsWith("droplet:Droplet"));
    s.check(
        !!retire && droplet?.action === "delete" && retire.startedAt + retire.ms <= droplet.startedAt,
        `app-2-retire's delete ran (${retire?.ms} ms), then the droplet was destroyed (${droplet?.action})`,
    );
    // What the LB said of the leaving host just before its retire stopped the app.
    const atStop = retire ? samples.filter((x) => x.peers && x.t <= retire.startedAt).pop() : undefined;
    const view = atStop?.peers?.[leaving] ?? "unknown";
    s.check(
        view === "draining" || view === "absent",
        `the LB had ${leaving} out of the ring before it stopped (${view})`,
    );
    s.check(
        summary.failed === 0 && summary.requests > 100,
        `0 failed requests of ${summary.requests} (${summary.failures.slice(0, 3).join("; ")})`,
    );
    const onLeaving = summary.ddp.filter((d) => d.hosts[0] === leaving);
    const moved = onLeaving.filter((d) => d.resubscribed >= 1 && d.hosts[d.hosts.length - 1] !== leaving);
    s.check(onLeaving.length > 0, `DDP clients on ${leaving} when it left: ${onLeaving.length} of 12`);
    s.check(
        moved.length === onLeaving.length,
        `every one resubscribed on another host (${moved.length}/${onLeaving.length}: ${onLeaving.map((d) => d.hosts.join(">")).join(", ")})`,
    );
    s.figures.failedRequests[s.step] = summary.failed;
    if (summary.failed > 0) {
        s.log(`failed requests: ${summary.failures.join("; ")}`);
        for (const line of lbErrorsSince(s, loadStarted)) s.log(`  LB: ${line}`);
    }
    s.figures.scaleDown = {
        upSeconds: Math.round(r.ms / 100) / 10,
        retireSeconds: retire ? Math.round(retire.ms / 100) / 10 : -1,
        requests: summary.requests,
        failedRequests: summary.failed,
        retriedRequests: summary.retried,
        ddpOnLeavingHost: onLeaving.length,
        ddpResubscribedElsewhere: moved.length,
        leavingPeerAtStop: view,
    };
};
export default step;
