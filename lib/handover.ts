// The planned move of the reserved IP between two LBs (lbCount 2): the active LB steps down (lb-role.sh
// step-down: its tracked script fails, keepalived goes to fault, the standby becomes master and assigns the
// address to itself), then waits until the other reports `active` (its takeover completed) and lets the
// old one back (step-up): with nopreempt it stays standby. `npm run ops -- failover` (ops/failover.ts) and
// the LB droplets' handover hooks (components/lbHandover.ts) both run handOver.
import { lbAdminPort, toolsDir } from "./layout";
import type { Result } from "./sshRunner";

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

/** Runs a command on an LB by its ssh_config name (ops' Runner, or the hooks' own). */
export interface RoleRunner {
    run(host: string, command: string, timeoutMs?: number): Promise<Result>;
}

/** An LB as messages name it: the program's name (lb, lb-1) and the droplet's. */
export interface LbLabel {
    name: string;
    droplet: string;
}

export interface FailoverOptions {
    /** How long the standby may take to report `active`, and the old one `standby` (ms). */
    timeoutMs?: number;
    pollMs?: number;
}

export interface HandOverOptions extends FailoverOptions {
    /** Only from this LB: when it is not the active one, it does not hold the address and nothing happens. */
    from?: string;
    /** How long the other LB may take to become a ready standby (ms); 0: it must be one already. */
    standbyWaitMs?: number;
    /** The reserved IP, for the message that says who holds it. */
    address?: string;
}

/** What handOver did: `moved` (exit code 0 when all went well) or `not-holder` (nothing to do). */
export type HandOverResult = { outcome: "moved"; code: number } | { outcome: "not-holder"; code: 0 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Moves the reserved IP from the active LB of `lbs` (two) to the other: step-down, wait until the other
 * reports `active`, step-up, wait until the old one reports `standby`. Throws, changing nothing, when no
 * LB is active or the other is not a ready standby (after waiting up to standbyWaitMs).
 */
export async function handOver(
    r: RoleRunner,
    lbs: LbLabel[],
    print: (s: string) => void,
    o: HandOverOptions = {},
): Promise<HandOverResult> {
    const ask = async (name: string): Promise<LbRole> => {
        const res = await r.run(name, roleProbe(), 20_000);
        return res.code === 0 ? parseRole(res.stdout) : { role: "unreachable", nginxUp: false };
    };
    const roles = await Promise.all(lbs.map((l) => ask(l.name)));
    const show = (i: number) =>
        `${lbs[i].name} (${lbs[i].droplet}) is ${roles[i].role}, nginx ${roles[i].nginxUp ? "up" : "down"}`;
    const pollMs = o.pollMs ?? 500;
    const from = o.from === undefined ? -1 : lbs.findIndex((l) => l.name === o.from);
    // A takeover in progress holds the address in a moment: it counts as active.
    const holds = (x: LbRole) => x.role === "active" || x.role === "takeover";
    if (from >= 0 && (!holds(roles[from]) || roles[1 - from].role === "active")) {
        print(`${show(from)}: it does not hold the address, nothing to hand over`);
        return { outcome: "not-holder", code: 0 };
    }
    const active = from >= 0 ? from : roles.findIndex((x) => x.role === "active");
    if (active < 0) throw new Error(`no load balancer is active: ${lbs.map((_, i) => show(i)).join("; ")}`);
    const standby = 1 - active;
    const ready = () => roles[standby].role === "standby" && roles[standby].nginxUp;
    const waitUntil = Date.now() + (o.standbyWaitMs ?? 0);
    if (!ready() && Date.now() < waitUntil) print(`${show(standby)}: waiting until it is a ready standby`);
    while (!ready() && Date.now() < waitUntil) {
        await sleep(pollMs);
        roles[standby] = await ask(lbs[standby].name);
    }
    if (!ready()) {
        const waited = o.standbyWaitMs ? ` after ${o.standbyWaitMs / 1000}s` : "";
        throw new Error(`the standby is not ready to take over${waited}, so nothing was changed: ${show(standby)}`);
    }
    const [fromName, to] = [lbs[active].name, lbs[standby].name];

    print(`${fromName} is active, ${to} standby: stepping ${fromName} down`);
    const down = await r.run(fromName, `sudo -n ${toolsDir}/lb-role.sh step-down`, 20_000);
    if (down.code !== 0)
        throw new Error(`step-down on ${fromName} failed: ${down.stderr.trim() || `exit ${down.code}`}`);
    const started = Date.now();
    const timeoutMs = o.timeoutMs ?? 60_000;
    const waitFor = async (name: string, want: string): Promise<boolean> => {
        while (Date.now() - started < timeoutMs) {
            if ((await ask(name)).role === want) return true;
            await sleep(pollMs);
        }
        return false;
    };
    const tookOver = await waitFor(to, "active");
    // Whatever happened, the old active may hold the address again (it comes back as standby).
    const up = await r.run(fromName, `sudo -n ${toolsDir}/lb-role.sh step-up`, 20_000);
    if (!tookOver) {
        print(
            `${to} did not report active within ${timeoutMs / 1000}s; ${fromName} is allowed to hold the address again`,
        );
        return { outcome: "moved", code: 1 };
    }
    const holder = o.address ? ` (it holds the reserved IP ${o.address})` : "";
    print(`${to} is active${holder} after ${((Date.now() - started) / 1000).toFixed(1)}s`);
    if (up.code !== 0) {
        print(`step-up on ${fromName} failed (${up.stderr.trim() || `exit ${up.code}`}): run it by hand`);
        return { outcome: "moved", code: 1 };
    }
    const settled = await waitFor(fromName, "standby");
    print(
        settled
            ? `${fromName} is standby`
            : `${fromName} has not reported standby yet: check it with npm run ops -- status`,
    );
    return { outcome: "moved", code: settled ? 0 : 1 };
}
