// lynis's hardening index inside the hosts, one run per role, both at once (each takes minutes): the LB
// and the first app host. Both must reach 80; the findings lynis still lists go to the log.
import { lynis } from "../lynis";
import { Step } from "../scenario";

const MIN_INDEX = 80;

const step: Step = async (s) => {
    const { stack } = s;
    const [lb, app] = await Promise.all([lynis(stack.lbHost()), lynis(stack.appHosts()[0])]);
    s.figures.lynis = { lb: lb.index, app: app.index };
    for (const [role, r] of [
        ["lb", lb],
        ["app", app],
    ] as const) {
        s.log(`lynis ${role}: index ${r.index} in ${r.seconds} s; left: ${r.findings.join(" ")}`);
        s.check(r.index >= MIN_INDEX, `lynis hardening index on the ${role} host is ${MIN_INDEX} or more (${r.index})`);
    }
};
export default step;
