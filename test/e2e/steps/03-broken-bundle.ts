// A release that never gets healthy: the up fails on the first host, which rolls back; the other hosts
// are untouched, no request fails, and pointing the stack back at v2 rolls no host.
import { APP_PORT, Step } from "../scenario";

const step: Step = async (s) => {
    const { stack } = s;
    const load = await s.startLoad(0);
    const r3 = await s.up("broken bundle", s.config(s.bundles.broken));
    const summary = await load.stop();
    s.figures.failedRequests[s.step] = summary.failed;
    s.check(!r3.ok, "the up fails");
    const cutovers = r3.journal.filter((j) => j.name.endsWith("-cutover"));
    const failed = cutovers.filter((j) => j.action === "failed").map((j) => j.name);
    const ran = cutovers.filter((j) => j.action !== "same").map((j) => j.name);
    s.check(
        failed.length === 1 && /app-1-cutover$/.test(failed[0]) && ran.length === 1,
        `only the first host's cutover ran, and it failed (${ran.join(", ")})`,
    );
    const releases = stack.appHosts().map((h) => stack.currentRelease(h));
    s.check(
        releases.every((r) => r === s.bundles.v2.sha256),
        `every host (the first rolled back, the others untouched) is on v2 (${releases.map((r) => r.slice(0, 12)).join(" ")})`,
    );
    s.check(
        summary.failed === 0 && summary.requests > 50,
        `0 failed requests of ${summary.requests} (${summary.failures.slice(0, 3).join("; ")})`,
    );
    let peers: { status?: string; draining?: boolean }[] = [];
    await s.until("every peer up after the rollback", 15000, async () => {
        peers = stack.appHosts().map((h) => stack.lbPeer(`${h.privateIp}:${APP_PORT}`));
        return peers.every((p) => p.status === "up" && p.draining === false);
    });
    s.check(
        peers.every((p) => p.status === "up" && p.draining === false),
        `every peer up and not draining after the rollback (${JSON.stringify(peers)})`,
    );
    // The operator points the stack back at the good bundle: v2 is re-uploaded and re-staged (the engine
    // sees those inputs change back), but no host rolls, because every cutover's state is still v2.
    const r3b = await s.up("revert to v2", s.config(s.bundles.v2));
    const revertCutovers = r3b.journal.filter((j) => j.name.endsWith("-cutover") && j.action !== "same").length;
    s.check(
        r3b.ok && revertCutovers === 0,
        `reverting the config to v2 succeeds without rolling any host (${revertCutovers} cutovers ran)`,
    );
};
export default step;
