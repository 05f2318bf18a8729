// What `npm run ops` runs on the hosts: pure builders of command strings (tested by exact equality), run
// by the operator user, which reads the journal (systemd-journal group) and may run one host tool with
// sudo (the cutover, for a rollback). Output is `key=value` lines where a program reads it back.
import { shellQuote } from "../components/commands";
import { cutoverCommand } from "../components/deploy";
import { appPaths, appUnit, lbAdminPort, nodeBinDir } from "../lib/layout";
import { OpsCutover } from "./target";

/** An app host's release, Node.js version and app state, as key=value lines. */
export function appStatusProbe(): string {
    return [
        `printf 'release=%s\\n' "$(readlink ${appPaths.current})"`,
        `printf 'node=%s\\n' "$(${nodeBinDir}/node --version 2>/dev/null)"`,
        `systemctl show --timestamp=unix --property=ActiveState,ActiveEnterTimestamp ${appUnit}`,
        `printf 'now=%s\\n' "$(date +%s)"`,
        `printf 'label=%s\\n' "$(sed -n 's/.*"meteorRelease"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p' ${appPaths.current}/bundle/star.json 2>/dev/null | head -n 1)"`,
    ].join("; ");
}

/**
 * The LB's view: every peer's state from the admin API, the config generation, and the expiry of the
 * certificate nginx serves (from a TLS handshake on loopback: the key files are root's).
 */
export function lbStatusProbe(): string {
    const admin = `http://127.0.0.1:${lbAdminPort}/lb`;
    return [
        `printf 'peers=%s\\n' "$(curl -fsS --max-time 5 ${admin}/peers)"`,
        `printf 'config=%s\\n' "$(curl -fsS --max-time 5 ${admin}/config)"`,
        `expiry=$(curl -skv -o /dev/null --max-time 5 https://127.0.0.1/ 2>&1 | sed -n 's/^\\*  expire date: //p' | head -n 1)`,
        `printf 'certExpires=%s\\n' "$(if [ -n "$expiry" ]; then date -u -d "$expiry" +%Y-%m-%dT%H:%M:%SZ; fi)"`,
    ].join("; ");
}

export interface JournalOptions {
    lines?: number;
    since?: string;
    follow?: boolean;
}

/** journalctl's --since: absolute times, "-1h", "yesterday", "10 min ago". Checked, then quoted. */
export function checkSince(since: string): string {
    if (!/^[0-9A-Za-z :.+-]{1,40}$/.test(since))
        throw new Error(
            `--since ${JSON.stringify(since)}: use a time journalctl understands, e.g. "2026-11-29 21:00", "-1h", "yesterday"`,
        );
    return since;
}

/** The app's journal with a unix timestamp leading each line, so lines of several hosts merge in order. */
export function journalCommand(o: JournalOptions): string {
    if (o.lines !== undefined && (!Number.isInteger(o.lines) || o.lines < 0))
        throw new Error(`--lines must be a whole number, got ${o.lines}`);
    return [
        "journalctl",
        `--unit=${appUnit}`,
        "--output=short-unix",
        "--no-pager",
        "--quiet",
        ...(o.lines !== undefined ? [`--lines=${o.lines}`] : []),
        ...(o.since !== undefined ? [`--since=${shellQuote(checkSince(o.since))}`] : []),
        ...(o.follow ? ["--follow"] : []),
    ].join(" ");
}

/** The releases an app host keeps (staged and complete), and where `current` and `previous` point. */
export function releasesProbe(): string {
    return [
        `printf 'current=%s\\n' "$(readlink ${appPaths.current})"`,
        `printf 'previous=%s\\n' "$(readlink ${appPaths.previous})"`,
        `for d in ${appPaths.releases}/*/; do if [ -f "$d/RELEASE" ] && [ -f "$d/bundle/main.js" ]; then printf 'staged=%s\\n' "$(basename "$d")"; fi; done`,
    ].join("; ");
}

/**
 * Cuts one app host over to a release it keeps, through the deploy's own gate (cutover.sh: drain,
 * switch, restart, healthy, undrain, LB up; back on failure), with the env the host runs now: nothing
 * is uploaded and no secret leaves the host. The operator's sudoers rule allows exactly this form.
 */
export function rollbackCommand(
    sha256: string,
    privateIp: string,
    appPort: number,
    lbPrivateIp: string,
    c: OpsCutover,
): string {
    return `${cutoverCommand({ sha256, peer: `${privateIp}:${appPort}`, lbPrivateIp, ...c })} --env live`;
}
