// `npm run ops -- failover`: moves the reserved IP to the standby LB on purpose (lbCount 2), e.g. before
// maintenance of the active one (lib/handover.ts: step-down, the standby takes over, step-up).
import { FailoverOptions, handOver, LbLabel, RoleRunner } from "../lib/handover";

/** `npm run ops -- failover`: whichever LB is active hands the address to the other, if it is a ready standby. */
export async function failover(
    r: RoleRunner & { target: { stack: string; lb: { publicIp: string }; lbs?: LbLabel[] } },
    print: (s: string) => void,
    o: FailoverOptions = {},
): Promise<number> {
    const t = r.target;
    const lbs = t.lbs ?? [];
    if (lbs.length < 2)
        throw new Error(
            `stack ${t.stack} has one load balancer: failover needs lbCount 2 (pulumi config set lbCount 2, and failoverApiToken)`,
        );
    return (await handOver(r, lbs, print, { ...o, address: t.lb.publicIp })).code;
}
