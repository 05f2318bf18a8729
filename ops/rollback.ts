// `npm run ops -- rollback [--to SHA]`: every app host back to a release it still keeps, one host at a
// time through the deploy's own cutover gate, uploading nothing; then the stack's config records it
// (`rollback.from`/`rollback.to`), so the program keeps the hosts there instead of rolling them forward.
import { releasesProbe, rollbackCommand } from "./remote";
import { keyValues, releaseOf } from "./report";
import { Runner } from "./runner";
import { OpsHost, OpsTarget } from "./target";

export interface HostReleases {
    current?: string;
    previous?: string;
    /** Releases staged and complete on the host. */
    staged: string[];
}

/** The answer of releasesProbe. */
export function parseReleases(text: string): HostReleases {
    const kv = keyValues(text);
    return {
        current: releaseOf(kv.get("current")),
        previous: releaseOf(kv.get("previous")),
        staged: kv.all("staged").filter((s) => /^[0-9a-f]{64}$/.test(s)),
    };
}

export interface RollbackPlan {
    target: string;
    /** Hosts to cut over, in roll order; the others already run the target. */
    hosts: OpsHost[];
}

const short = (sha: string) => sha.slice(0, 12);

/** Which release to go back to, and which hosts to cut over; throws, changing nothing, when it cannot. */
export function planRollback(t: OpsTarget, onHosts: HostReleases[], to?: string): RollbackPlan {
    const kept = [...new Set(onHosts.flatMap((h) => h.staged))].sort();
    let target: string;
    if (to !== undefined) {
        if (!/^[0-9a-f]{7,64}$/.test(to))
            throw new Error(
                `--to must be a release's sha256 (7 to 64 lowercase hex digits), got ${JSON.stringify(to)}`,
            );
        const matches = kept.filter((s) => s.startsWith(to));
        if (matches.length === 0)
            throw new Error(
                `no app host keeps a release ${to}; kept: ${kept.map(short).join(", ") || "none"}. Nothing was changed.`,
            );
        if (matches.length > 1)
            throw new Error(`--to ${to} matches ${matches.map(short).join(", ")}: give more digits`);
        target = matches[0];
    } else {
        const onStack = onHosts.filter((h) => h.current === t.release);
        if (onStack.length === 0)
            throw new Error(
                `no app host runs the stack's release ${short(t.release)}, so there is no "previous" to go back to: name the release with --to (kept: ${kept.map(short).join(", ") || "none"})`,
            );
        const previous = [...new Set(onStack.map((h) => h.previous))];
        if (previous.length !== 1 || previous[0] === undefined)
            throw new Error(
                `the hosts on ${short(t.release)} do not agree on their previous release (${previous.map((p) => (p ? short(p) : "none")).join(", ")}): name the release with --to`,
            );
        target = previous[0];
    }
    const missing = t.hosts.filter((_, i) => !onHosts[i].staged.includes(target));
    if (missing.length > 0)
        throw new Error(
            missing
                .map(
                    (h) =>
                        `${h.name} (${h.droplet}) no longer has release ${short(target)}; it keeps ${onHosts[t.hosts.indexOf(h)].staged.map(short).join(", ") || "none"}`,
                )
                .join("; ") + ". Nothing was changed.",
        );
    return { target, hosts: t.hosts.filter((_, i) => onHosts[i].current !== target) };
}

/** The one Pulumi command that records a rollback to `target` in the stack's config. */
export function recordCommand(t: OpsTarget, target: string): string[] {
    if (target === t.bundle) return ["pulumi", "config", "rm", "meteor-do:rollback", "--stack", t.stack];
    return [
        "pulumi",
        "config",
        "set-all",
        "--path",
        "--plaintext",
        `meteor-do:rollback.from=${t.bundle}`,
        "--plaintext",
        `meteor-do:rollback.to=${target}`,
        "--stack",
        t.stack,
    ];
}

export async function rollback(
    r: Runner,
    to: string | undefined,
    print: (s: string) => void,
    record: (argv: string[]) => Promise<boolean>,
): Promise<number> {
    const t = r.target;
    const answers = await Promise.all(t.hosts.map((h) => r.run(h.name, releasesProbe())));
    const unreadable = answers.flatMap((a, i) => (a.code === 0 ? [] : [`${t.hosts[i].name}: ${a.stderr.trim()}`]));
    if (unreadable.length > 0) throw new Error(`could not list the releases of ${unreadable.join("; ")}`);
    const plan = planRollback(
        t,
        answers.map((a) => parseReleases(a.stdout)),
        to,
    );
    print(
        `rolling back to ${short(plan.target)}: ${plan.hosts.map((h) => h.name).join(", ") || "every host is there already"}`,
    );
    for (const h of plan.hosts) {
        const started = Date.now();
        const command = rollbackCommand(plan.target, h.privateIp, t.appPort, t.lb.privateIp, t.cutover);
        const code = await r.stream(h.name, command, (line) => print(`${h.name} | ${line}`));
        if (code !== 0) {
            const done = plan.hosts.slice(0, plan.hosts.indexOf(h)).map((x) => x.name);
            print(
                `rollback stopped at ${h.name} (its cutover put it back on its release): ${done.join(", ") || "no host"} on ${short(plan.target)}`,
            );
            return 1;
        }
        print(`${h.name} on ${short(plan.target)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    return (await record(recordCommand(t, plan.target))) ? 0 : 1;
}
