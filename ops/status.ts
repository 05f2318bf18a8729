// `npm run ops -- status`: one table of the app hosts (LB state, release, Node.js, uptime) and the LB's
// config generation and certificate expiry.
import { appStatusProbe, lbStatusProbe } from "./remote";
import { AppStatus, duration, lbState, LbStatus, parseAppStatus, parseLbStatus, table } from "./report";
import { parseRole, roleProbe } from "../lib/handover";
import { Runner } from "./runner";
import { OpsTarget } from "./target";

/** The status report from what the hosts answered (undefined: the host did not answer). */
export function statusReport(t: OpsTarget, apps: (AppStatus | undefined)[], lb: LbStatus | undefined): string {
    const rows = t.hosts.map((h, i) => {
        const a = apps[i];
        const peer = lb?.peers.find((p) => p.name === `${h.privateIp}:${t.appPort}`);
        const release = a?.release
            ? `${a.release.slice(0, 12)}${a.label ? ` ${a.label}` : ""}${a.release === t.release ? "" : " (not the stack's)"}`
            : a
              ? "none"
              : "?";
        const uptime = !a ? "?" : a.uptimeSeconds !== undefined ? duration(a.uptimeSeconds) : "stopped";
        return [h.droplet, h.privateIp, lb ? lbState(peer) : "?", release, a ? (a.node ?? "none") : "?", uptime];
    });
    return [
        table(["HOST", "PRIVATE IP", "LB", "RELEASE", "NODE", "UPTIME"], rows),
        "",
        `load balancer ${t.lb.droplet} (${t.lb.publicIp}): config generation ${lb?.generation ?? "?"}, certificate expires ${lb?.certExpires ?? "?"}`,
        `stack release ${t.release.slice(0, 12)}`,
    ].join("\n");
}

export async function status(r: Runner, print: (s: string) => void): Promise<number> {
    const t = r.target;
    const [lbResult, ...appResults] = await Promise.all([
        r.run("lb", lbStatusProbe()),
        ...t.hosts.map((h) => r.run(h.name, appStatusProbe())),
    ]);
    const failed: string[] = [];
    const answer = <T>(
        name: string,
        res: { code: number; stdout: string; stderr: string },
        parse: (s: string) => T,
    ) => {
        if (res.code === 0) return parse(res.stdout);
        failed.push(`${name}: ${res.stderr.trim() || `exit ${res.code}`}`);
        return undefined;
    };
    const lb = answer("lb", lbResult, parseLbStatus);
    const apps = appResults.map((res, i) => answer(t.hosts[i].name, res, parseAppStatus));
    print(statusReport(t, apps, lb));
    // lbCount 2: which LB holds the address.
    if (t.lbs) {
        const roles = await Promise.all(t.lbs.map((l) => r.run(l.name, roleProbe(), 20_000)));
        print(
            `load balancers: ${t.lbs.map((l, i) => `${l.name} (${l.droplet}, ${l.publicIp}) ${roles[i].code === 0 ? parseRole(roles[i].stdout).role : "unreachable"}`).join(", ")}`,
        );
    }
    for (const f of failed) print(`could not read ${f}`);
    return failed.length > 0 ? 1 : 0;
}
