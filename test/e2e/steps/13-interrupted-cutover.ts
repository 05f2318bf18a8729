// A killed `pulumi up`: an env change rolls the hosts, and the up is killed, with the ssh clients it
// started, while the first host is drained. cutover.sh runs as a transient unit on the host, so that host
// still ends up and undrained on the new env, and the hosts after it are untouched; the next `up` (same
// config) finishes the roll.
import * as fs from "fs";
import { envPaths } from "../../../lib/layout";
import { killPid } from "../../support/processes";
import { APP_PORT, Step } from "../scenario";

/** PIDs of this process's descendants (the up it started and that up's ssh clients), deepest last. */
function descendants(): number[] {
    const parent = new Map<number, number>();
    for (const d of fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
        try {
            const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
            parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
        } catch {
            // gone meanwhile
        }
    }
    const out: number[] = [];
    const walk = (pid: number) => {
        for (const [child, ppid] of parent) {
            if (ppid !== pid) continue;
            out.push(child);
            walk(child);
        }
    };
    walk(process.pid);
    return out;
}

const step: Step = async (s) => {
    const { stack } = s;
    const hosts = stack.appHosts();
    const peerOf = (h: (typeof hosts)[number]) => `${h.privateIp}:${APP_PORT}`;
    const envOf = (h: (typeof hosts)[number]) => stack.sh(h, `readlink ${envPaths.appEnv}`).stdout.trim();
    const before = Object.fromEntries(hosts.map((h) => [h.name, envOf(h)]));
    const appEnv = { ...JSON.parse(s.lastConfig.appEnv ?? "{}"), E2E_MARK: "interrupted" };
    const config = { ...s.lastConfig, appEnv: JSON.stringify(appEnv) };

    const ups = new Set(descendants());
    const up = s.up("killed mid-cutover", config);
    let first: (typeof hosts)[number] | undefined;
    const drained = async () => (first = hosts.find((h) => stack.lbPeer(peerOf(h)).draining === true)) !== undefined;
    const seen = await s.until("a host drained by the up", 5 * 60e3, drained, 50);
    // Its cutover unit, just before the kill (after it, the cutover may finish within a second).
    const units = () => stack.sh(first!, "systemctl list-units --no-legend 'meteor-do-cutover-*' | wc -l").stdout;
    const unit = first ? units().trim() : "0";
    // The up and the ssh clients it started: everything below this process that was not there before.
    const killed = descendants().filter((pid) => !ups.has(pid));
    for (const pid of killed) killPid(pid, "SIGKILL");
    const result = await up;
    s.check(
        seen && !result.ok && unit === "1",
        `the up was killed (${killed.length} processes) while ${first?.name} was drained and its cutover unit ran (${unit} unit)`,
    );
    if (!first) return;
    const peer = peerOf(first);

    const settled = async () => {
        const p = stack.lbPeer(peer);
        return p.status === "up" && p.draining === false && envOf(first!) !== before[first!.name];
    };
    s.check(
        await s.until(`${peer} up and undrained on the new env`, 90e3, settled, 250),
        `${first.name} ends up and undrained on the new env, with nobody connected`,
    );
    for (const h of hosts.filter((x) => x !== first))
        s.check(envOf(h) === before[h.name], `${h.name} is untouched (the roll stopped with the up)`);

    const again = await s.up("after the killed up", config);
    s.check(again.ok, "the next up finishes the roll");
    const changed = stack.appHosts().filter((h) => envOf(h) !== before[h.name]).length;
    s.check(changed === hosts.length, `every host is on the new env (${changed}/${hosts.length})`);
};
export default step;
