// A cutover whose SSH client dies halfway: `npm run ops -- rollback --to v2` is killed (the whole process
// group: ts-node and its ssh clients, as a laptop that drops off the network) while the first host is
// drained. cutover.sh runs as a transient unit on the host, so the host still ends on v2, healthy and
// undrained, and the hosts after it are untouched. Then a full rollback to v1 puts every host back where
// step 8 left them, and an `up` with step 8's config runs no Command.
import { appUnit } from "../../../lib/layout";
import { opsConfig, startOps } from "../opsCli";
import { APP_PORT, Step } from "../scenario";

const step: Step = async (s) => {
    const { stack } = s;
    const { v1, v2 } = s.bundles;
    const [first, ...others] = stack.appHosts();
    const peer = `${first.privateIp}:${APP_PORT}`;
    s.check(
        stack.appHosts().every((h) => stack.currentRelease(h) === v1.sha256),
        "every host runs v1 before the interrupted cutover",
    );

    const run = startOps(s, ["rollback", "--to", v2.sha256], 5 * 60e3);
    const drained = await s.until(
        `${peer} drained by the rollback`,
        60e3,
        async () => !!stack.lbPeer(peer).draining,
        50,
    );
    run.kill();
    const killed = await run.done;
    const atKill = stack.lbPeer(peer);
    const unit = stack.sh(first, "systemctl list-units --no-legend 'meteor-do-cutover-*' | wc -l").stdout.trim();
    s.check(drained && killed.code !== 0, `the ops client was killed while ${peer} was drained (exit ${killed.code})`);
    s.check(
        atKill.draining === true && unit === "1",
        `after the kill the host is still drained and its cutover unit runs (${JSON.stringify(atKill)}, ${unit} unit)`,
    );

    const settled = async () => {
        const p = stack.lbPeer(peer);
        return p.status === "up" && p.draining === false && stack.currentRelease(first) === v2.sha256;
    };
    s.check(
        await s.until(`${peer} up and undrained on v2`, 90e3, settled, 250),
        `${first.name} ends on v2, healthy and undrained, with nobody connected`,
    );
    const active = stack.sh(first, `systemctl is-active ${appUnit}`).stdout.trim();
    s.check(active === "active", `${first.name}'s app is active (${active})`);
    for (const h of others)
        s.check(stack.currentRelease(h) === v1.sha256, `${h.name} is untouched, still on v1 (the roll stopped)`);

    const back = await startOps(s, ["rollback", "--to", v1.sha256], 5 * 60e3).done;
    s.check(back.code === 0, `a full rollback to v1 then succeeds (${back.stderr.trim().split("\n").slice(-2)})`);
    s.check(
        stack.appHosts().every((h) => stack.currentRelease(h) === v1.sha256),
        "every host is back on v1",
    );
    const config = opsConfig(s, { rollback: JSON.stringify({ from: v2.sha256, to: v1.sha256 }) });
    const after = await s.up("after interrupted cutover", config);
    const ran = after.journal.filter((j) => j.type.startsWith("command:remote:") && j.action !== "same");
    s.check(after.ok && ran.length === 0, `an up with step 8's config runs 0 Commands (${ran.map((j) => j.name)})`);
};
export default step;
