// Killing the active LB of a two-LB stack and timing the standby's takeover, for e2e step 15 and
// bench:failover: power off (DigitalOcean's power_off: links down, no shutdown) or stop nginx on the droplet
// that holds the reserved IP, then probe the site through that IP until it answers again.
import { lbRoleFile } from "../../lib/layout";
import { doApiLog } from "./engine/doApi";
import { powerOff } from "./engine/hosts";
import { holderOf } from "./engine/reservedIps";
import { runIn } from "./engine/ssh";
import { LocalStack } from "./engine/stack";
import { CLIENT_NS, HostRecord } from "./engine/topology";
import { sleep } from "../support/wait";

export type Kill = "power-off" | "nginx-stop";

/** lbSize changed on two LBs under load: each resized in turn, the address handed over first (step 15). */
export interface LbResize {
    /** Failed requests not in flight when the address moved, and those that were. */
    failedRequests: number;
    inFlightFailed: number;
    requests: number;
    /** Assigns of the address during the up (one per resized LB that held it). */
    handovers: number;
    /** The whole up. */
    seconds: number;
}

export interface Takeover {
    /** From the kill to the first good answer through the reserved IP (null: none within the timeout). */
    ms: number | null;
    killedAt: number;
    goodAt: number | null;
    from: string;
    /** The droplet that holds the address after the takeover (undefined: none). */
    to?: string;
    /** Assign requests the fake API got in the meantime, by droplet name. */
    assigns: string[];
}

/** One GET of the site's info page through `site` on a new connection: true on a 200. */
async function answers(site: string): Promise<boolean> {
    const r = await runIn(CLIENT_NS, [
        "curl",
        "-sk",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "2",
        `https://${site}/info.json`,
    ]);
    return r.stdout === "200";
}

/**
 * When the site first answers through `site` again: a probe on a new connection every `everyMs`, several in
 * flight at once (a probe sent while nobody holds the address waits for its own timeout), so the answer's time
 * is known to about `everyMs`. Undefined after timeoutMs.
 */
export async function firstGoodAnswer(site: string, timeoutMs: number, everyMs = 100): Promise<number | undefined> {
    const end = Date.now() + timeoutMs;
    let good: number | undefined;
    const inFlight: Promise<void>[] = [];
    while (good === undefined && Date.now() < end) {
        inFlight.push(
            answers(site).then((ok) => {
                if (ok) good = Math.min(good ?? Infinity, Date.now());
            }),
        );
        await sleep(everyMs);
    }
    await Promise.all(inFlight);
    return good;
}

/** The role keepalived last gave each LB droplet (active, standby, fault; "" when it has none yet). */
export function roles(stack: LocalStack): Record<string, string> {
    return Object.fromEntries(
        stack.lbHosts().map((h) => [h.name, stack.sh(h, `cat ${lbRoleFile} 2>/dev/null`).stdout.trim()]),
    );
}

/** Two LBs, one active and one standby (bounded): the pair is ready for a failover. */
export async function pairReady(stack: LocalStack, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
        const r = Object.values(roles(stack)).sort();
        if (r.length === 2 && r[0] === "active" && r[1] === "standby") return true;
        await sleep(500);
    }
    return false;
}

/** Kills the active LB (`how`) and waits up to timeoutMs for the site to answer through the reserved IP. */
export async function killActive(stack: LocalStack, site: string, how: Kill, timeoutMs = 30000): Promise<Takeover> {
    const active = holderOf(site);
    if (!active) throw new Error(`no droplet holds ${site}`);
    const logFrom = doApiLog().length;
    const killedAt = Date.now();
    if (how === "power-off") await powerOff(active.name);
    // --no-block: nginx's stop waits for its connections (up to 5 s); the failover starts with it.
    else stack.sh(active, "systemctl stop --no-block nginx");
    // A stopping nginx still answers for a moment: only an answer after the address moved counts.
    const end = Date.now() + timeoutMs;
    while (holderOf(site)?.name === active.name && Date.now() < end) await sleep(50);
    const goodAt = (await firstGoodAnswer(site, Math.max(0, end - Date.now()))) ?? null;
    return {
        ms: goodAt === null ? null : goodAt - killedAt,
        killedAt,
        goodAt,
        from: active.name,
        to: holderOf(site)?.name,
        assigns: assignsSince(stack, logFrom),
    };
}

/** The droplets the fake API was asked to assign an address to since log line `from` (names, in order). */
export function assignsSince(stack: LocalStack, from: number): string[] {
    const byId = new Map(stack.hosts().map((h: HostRecord) => [Number(h.dropletId), h.name]));
    return doApiLog()
        .slice(from)
        .filter((l) => l.method === "POST" && l.status === 201 && l.dropletId !== undefined)
        .map((l) => byId.get(l.dropletId!) ?? String(l.dropletId));
}
