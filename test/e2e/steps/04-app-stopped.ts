// The app stopped on one host: the LB's checker marks it down within 1.5 s (the detection time is a
// figure), no request fails meanwhile, and the host is back up once the app starts again.
import { appUnit } from "../../../lib/layout";
import { sleep } from "../../support/wait";
import { APP_PORT, Step } from "../scenario";

const step: Step = async (s) => {
    const { stack } = s;
    const load = await s.startLoad(3);
    const victim = stack.appHosts()[1];
    const peer = `${victim.privateIp}:${APP_PORT}`;
    const stoppedAt = Date.now();
    stack.sh(victim, `systemctl stop --no-block ${appUnit}`);
    let downAt = 0;
    const markedDown = async () => {
        if (stack.lbPeer(peer).status !== "down") return false;
        downAt = Date.now();
        return true;
    };
    await s.until(`${peer} marked down`, 10000, markedDown, 25);
    s.figures.detectionMs = downAt ? downAt - stoppedAt : null;
    await sleep(2000);
    const summary = await load.stop();
    s.figures.failedRequests[s.step] = summary.failed;
    s.check(
        downAt > 0 && (s.figures.detectionMs ?? Infinity) <= 1500,
        `the checker marks the stopped host down within 1.5 s (${s.figures.detectionMs} ms)`,
    );
    s.check(
        summary.failed === 0 && summary.requests > 50,
        `0 failed requests of ${summary.requests} (${summary.failures.slice(0, 3).join("; ")})`,
    );
    stack.sh(victim, `systemctl start ${appUnit}`);
    s.check(
        await s.until(`${peer} up again`, 30000, async () => stack.lbPeer(peer).status === "up"),
        "the host comes back up after the app starts",
    );
};
export default step;
