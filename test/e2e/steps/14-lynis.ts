// lynis's hardening index inside the hosts, one run per role, both at once (each takes minutes): the LB
// and the first app host, each checked against 80 (README "Host hardening"; 61 and 60 before the
// hardening). The findings lynis still lists go to the log.
import { lynis } from "../lynis";
import { Step } from "../scenario";

const TARGET = 80;

const step: Step = async (s) => {
    // Both runs take about 5 minutes on a quiet 2-core machine: E2E_LYNIS=0 leaves them out of a run
    // made to try something else (npm test and CI always run them).
    if (process.env.E2E_LYNIS === "0") {
        s.log("14-lynis: skipped (E2E_LYNIS=0)");
        return;
    }
    const { stack } = s;
    const [lb, app] = await Promise.all([lynis(stack.lbHost()), lynis(stack.appHosts()[0])]);
    s.figures.lynis = { lb: lb.index, app: app.index };
    for (const [role, r] of [
        ["lb", lb],
        ["app", app],
    ] as const) {
        s.log(`lynis ${role}: index ${r.index} (target ${TARGET}) in ${r.seconds} s; left: ${r.findings.join(" ")}`);
        s.check(r.index >= TARGET, `lynis hardening index on the ${role} host is ${TARGET} or more (${r.index})`);
    }
};
export default step;
