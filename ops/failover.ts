// `npm run ops -- failover`: moves the reserved IP to the standby LB on purpose (lbCount 2), e.g. before
// maintenance of the active one. The active LB steps down (lb-role.sh step-down: its tracked script fails,
// keepalived goes to fault, the standby becomes master and assigns the address to itself), ops waits until
// the standby reports `active` (its takeover completed), then lets the old one back (step-up): with
// nopreempt it stays standby.
import { lbAdminPort, toolsDir } from "../lib/layout";
import { Runner } from "./runner";

/** What one LB says about itself: its role (lb-role.sh show) and whether nginx answers locally. */
export function roleProbe(): string {
    return `printf 'role=%s\\n' "$(${toolsDir}/lb-role.sh show)"; curl -fsS -o /dev/null --max-time 2 http://127.0.0.1:${lbAdminPort}/lb/config && echo nginx=up || echo nginx=down`;
}

export interface LbRole {
    role: string;
    nginxUp: boolean;
}

export function parseRole(out: string): LbRole {
    const role = /^role=([a-z]+)$/m.exec(out)?.[1] ?? "unknown";
    return { role, nginxUp: /^nginx=up$/m.test(out) };
}

export interface FailoverOptions {
    /** How long the standby may take to report `active`, and the old one `standby` (ms). */
    timeoutMs?: number;
    pollMs?: number;
}

export async function failover(r: Runner, print: (s: string) => void, o: FailoverOptions = {}): Promise<number> {
    const t = r.target;
    const lbs = t.lbs ?? [];
    if (lbs.length < 2)
        throw new Error(
            `stack ${t.stack} has one load balancer: failover needs lbCount 2 (pulumi config set lbCount 2, and failoverApiToken)`,
        );
    const ask = async (name: string): Promise<LbRole> => {
        const res = await r.run(name, roleProbe(), 20_000);
        return res.code === 0 ? parseRole(res.stdout) : { role: "unreachable", nginxUp: false };
    };
    const roles = await Promise.all(lbs.map((l) => ask(l.name)));
    const show = (i: number) =>
        `${lbs[i].name} (${lbs[i].droplet}) is ${roles[i].role}, nginx ${roles[i].nginxUp ? "up" : "down"}`;
    const active = roles.findIndex((x) => x.role === "active");
    if (active < 0) throw new Error(`no load balancer is active: ${lbs.map((_, i) => show(i)).join("; ")}`);
    const standby = 1 - active;
    if (roles[standby].role !== "standby" || !roles[standby].nginxUp)
        throw new Error(`the standby is not ready to take over, so nothing was changed: ${show(standby)}`);
    const [from, to] = [lbs[active].name, lbs[standby].name];

    print(`${from} is active, ${to} standby: stepping ${from} down`);
    const down = await r.run(from, `sudo -n ${toolsDir}/lb-role.sh step-down`, 20_000);
    if (down.code !== 0) throw new Error(`step-down on ${from} failed: ${down.stderr.trim() || `exit ${down.code}`}`);
    const started = Date.now();
    const timeoutMs = o.timeoutMs ?? 60_000;
    const waitFor = async (name: string, want: string): Promise<boolean> => {
        while (Date.now() - started < timeoutMs) {
            if ((await ask(name)).role === want) return true;
            await new Promise((resolve) => setTimeout(resolve, o.pollMs ?? 500));
        }
        return false;
    };
    const tookOver = await waitFor(to, "active");
    // Whatever happened, the old active may hold the address again (it comes back as standby).
    const up = await r.run(from, `sudo -n ${toolsDir}/lb-role.sh step-up`, 20_000);
    if (!tookOver) {
        print(`${to} did not report active within ${timeoutMs / 1000}s; ${from} is allowed to hold the address again`);
        return 1;
    }
    print(
        `${to} is active (it holds the reserved IP ${t.lb.publicIp}) after ${((Date.now() - started) / 1000).toFixed(1)}s`,
    );
    if (up.code !== 0) {
        print(`step-up on ${from} failed (${up.stderr.trim() || `exit ${up.code}`}): run it by hand`);
        return 1;
    }
    const settled = await waitFor(from, "standby");
    print(settled ? `${from} is standby` : `${from} has not reported standby yet: check it with npm run ops -- status`);
    return settled ? 0 : 1;
}
