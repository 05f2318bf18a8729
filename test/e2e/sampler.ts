// What the scale and resize steps watch while an `up` runs: every ~250 ms, the LB's view of each peer
// (by droplet name: up/down, draining, or absent from its config) and which app droplets are powered off.
import { lbAdminPort } from "../../lib/layout";
import { initPid } from "./engine/hosts";
import { loadState } from "./engine/topology";
import { Scenario } from "./scenario";

export type PeerView = "serving" | "draining" | "down" | "absent";

export interface Sample {
    t: number;
    /** Droplet name -> the LB's view; missing when the LB did not answer. */
    peers?: Record<string, PeerView>;
    /** App droplets (by name) that exist and are not running. */
    off: string[];
}

interface LbPeer {
    host?: string;
    status?: string;
    draining?: boolean;
}

/** The app host whose droplet name ends in -app-N (hosts keep their numbers). */
export function appHost(s: Scenario, name: string) {
    return s.stack.appHosts().find((h) => h.name === name || h.name.endsWith(`-${name}`));
}

export function sampleOnce(s: Scenario, names: string[]): Sample {
    const t = Date.now();
    const hosts = loadState()?.hosts ?? {};
    const off = names.filter((n) => hosts[n] && initPid(hosts[n]) === undefined);
    const r = s.stack.sh(s.stack.lbHost(), `curl -sS --max-time 2 http://127.0.0.1:${lbAdminPort}/lb/peers`);
    try {
        const list: LbPeer[] = JSON.parse(r.stdout).peers;
        const peers: Record<string, PeerView> = Object.fromEntries(names.map((n) => [n, "absent" as PeerView]));
        for (const p of list)
            if (p.host && names.includes(p.host))
                peers[p.host] = p.status !== "up" ? "down" : p.draining ? "draining" : "serving";
        return { t, peers, off };
    } catch {
        return { t, off };
    }
}

/** Samples until stop() (bounded at 15 minutes); `names` are the droplet names to watch. */
export function startSampler(s: Scenario, names: string[], everyMs = 250): { stop: () => Sample[] } {
    const samples: Sample[] = [];
    const end = Date.now() + 15 * 60e3;
    let running = true;
    const loop = async () => {
        while (running && Date.now() < end) {
            samples.push(sampleOnce(s, names));
            await new Promise((r) => setTimeout(r, everyMs));
        }
    };
    const done = loop();
    return {
        stop: () => {
            running = false;
            void done;
            return samples;
        },
    };
}

/** The first sample at or after `from` where `test` holds, or undefined. */
export function firstWhere(samples: Sample[], test: (x: Sample) => boolean, from = 0): Sample | undefined {
    return samples.find((x) => x.t >= from && test(x));
}

/** The LB's nginx errors and warnings since `sinceMs` (for a step's log when requests failed). */
export function lbErrorsSince(s: Scenario, sinceMs: number): string[] {
    const r = s.stack.sh(s.stack.lbHost(), "tail -n 400 /var/log/nginx/error.log");
    const since = new Date(sinceMs).toISOString().replace("T", " ").replace(/-/g, "/").slice(0, 19);
    return r.stdout
        .split("\n")
        .filter((l) => /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /.test(l) && l.slice(0, 19) >= since)
        .filter((l) => /\[(error|warn|crit|alert)\]/.test(l))
        .slice(-30);
}
