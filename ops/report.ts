// Reading back what the hosts said: key=value probes, journal lines, and the tables `npm run ops` prints.

/** `key=value` lines into a map; a repeated key keeps every value (in order) under `all`. */
export function keyValues(text: string): { get: (k: string) => string | undefined; all: (k: string) => string[] } {
    const map = new Map<string, string[]>();
    for (const line of text.split("\n")) {
        const i = line.indexOf("=");
        if (i <= 0) continue;
        const k = line.slice(0, i);
        map.set(k, [...(map.get(k) ?? []), line.slice(i + 1)]);
    }
    return { get: (k) => map.get(k)?.[0], all: (k) => map.get(k) ?? [] };
}

/** `releases/<sha>` (a readlink) into the sha, or undefined. */
export function releaseOf(link: string | undefined): string | undefined {
    const m = /^(?:.*\/)?releases\/([0-9a-f]{64})\/?$/.exec(link ?? "");
    return m ? m[1] : undefined;
}

/** Seconds as "3d 4h", "2h 5m", "4m 10s", "12s". */
export function duration(seconds: number): string {
    const s = Math.max(0, Math.floor(seconds));
    const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
    if (d > 0) return `${d}d ${h}h`;
    if (h > 0) return `${h}h ${m}m`;
    if (m > 0) return `${m}m ${s % 60}s`;
    return `${s}s`;
}

export interface AppStatus {
    release?: string;
    label?: string;
    node?: string;
    active: boolean;
    uptimeSeconds?: number;
}

/** The answer of appStatusProbe. */
export function parseAppStatus(text: string): AppStatus {
    const kv = keyValues(text);
    const started = /^@(\d+)$/.exec(kv.get("ActiveEnterTimestamp") ?? "");
    const now = Number(kv.get("now"));
    const active = kv.get("ActiveState") === "active";
    return {
        release: releaseOf(kv.get("release")),
        label: kv.get("label") || undefined,
        node: kv.get("node") || undefined,
        active,
        uptimeSeconds: active && started && Number.isFinite(now) ? now - Number(started[1]) : undefined,
    };
}

export interface LbPeer {
    name: string;
    status: string;
    draining: boolean;
}
export interface LbStatus {
    peers: LbPeer[];
    generation?: number;
    certExpires?: string;
}

/** The answer of lbStatusProbe. */
export function parseLbStatus(text: string): LbStatus {
    const kv = keyValues(text);
    const json = (v: string | undefined): Record<string, unknown> | undefined => {
        try {
            return v ? JSON.parse(v) : undefined;
        } catch {
            return undefined;
        }
    };
    const peers = (json(kv.get("peers"))?.peers ?? []) as LbPeer[];
    const generation = json(kv.get("config"))?.generation;
    return {
        peers: Array.isArray(peers) ? peers : [],
        generation: typeof generation === "number" ? generation : undefined,
        certExpires: kv.get("certExpires") || undefined,
    };
}

/** A peer's state as the LB sees it: draining wins over up/down (a draining host takes no new clients). */
export function lbState(peer: LbPeer | undefined): string {
    if (!peer) return "unknown";
    return peer.draining ? "draining" : peer.status;
}

/** Left-aligned columns, two spaces apart. */
export function table(header: string[], rows: string[][]): string {
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
    const line = (cells: string[]) =>
        cells
            .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
            .join("  ")
            .trimEnd();
    return [line(header), ...rows.map(line)].join("\n");
}

export interface JournalLine {
    host: string;
    /** Seconds since the epoch (microseconds in the fraction); NaN for a line without a timestamp. */
    time: number;
    text: string;
}

/** One line of `journalctl --output=short-unix`: "<unix time> <hostname> <identifier>: <message>". */
export function parseJournalLine(host: string, line: string): JournalLine {
    const m = /^(\d+\.\d+) \S+ (.*)$/.exec(line);
    return m ? { host, time: Number(m[1]), text: m[2] } : { host, time: NaN, text: line };
}

/** Lines of every host in time order (stable: a host's lines without a time stay after the one before). */
export function mergeJournals(perHost: JournalLine[][]): JournalLine[] {
    const carried = perHost.map((lines, h) => {
        let last = -Infinity;
        return lines.map((l, i) => {
            if (Number.isFinite(l.time)) last = l.time;
            return { l, key: Number.isFinite(l.time) ? l.time : last, h, i };
        });
    });
    return carried
        .flat()
        .sort((a, b) => a.key - b.key || a.h - b.h || a.i - b.i)
        .map((x) => x.l);
}

/** "app-1 | 2026-11-29T21:04:05.123Z node[812]: listening", the host name padded to `width`. */
export function formatJournalLine(l: JournalLine, width: number): string {
    const when = Number.isFinite(l.time) ? new Date(l.time * 1000).toISOString() : "";
    return `${l.host.padEnd(width)} | ${when ? `${when} ` : ""}${l.text}`;
}
