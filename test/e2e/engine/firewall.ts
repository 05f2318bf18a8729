// DigitalOcean Cloud Firewalls, emulated from the program's own Firewall resources: each droplet that
// carries one of a firewall's tags gets, in its network namespace (on eth0 and eth1, as DigitalOcean
// filters before the droplet: not lo, not what arrives through a tunnel), an nftables input chain that admits what the inbound rules admit, replies
// to its own connections (Cloud Firewalls are stateful) and drops everything else. Source tags resolve to
// every address of the droplets that carry them. Outbound rules are not emulated (the program opens them
// all). Applied again whenever a droplet or a firewall changes, so a new droplet is covered from its boot.
import { spawnSync } from "child_process";
import * as net from "net";
import { runIn } from "./ssh";
import { EngineState, Props } from "./state";
import { HostRecord, loadState } from "./topology";

const FIREWALL = "digitalocean:index/firewall:Firewall";
const DROPLET = "digitalocean:index/droplet:Droplet";
/** The table this emulation owns in each droplet's namespace (replaced as a whole on every apply). */
const TABLE = "meteor_do_cloud_firewall";

interface InboundRule {
    protocol: "tcp" | "udp" | "icmp";
    portRange?: string;
    sourceAddresses?: string[];
    sourceTags?: string[];
}

/** A host of the topology and the tags its droplet carries. */
interface Tagged {
    host: HostRecord;
    tags: string[];
}

function taggedHosts(engine: EngineState): Tagged[] {
    const hosts = loadState()?.hosts ?? {};
    return Object.entries(engine.resources)
        .filter(([k]) => k.startsWith(`${DROPLET}::`))
        .map(([, r]) => ({ host: hosts[String(r.state.name)], tags: (r.inputs.tags as string[] | undefined) ?? [] }))
        .filter((t): t is Tagged => t.host !== undefined);
}

const addressesOf = (h: HostRecord) => [h.privateIp, h.publicIp, ...h.extraPublicIps];

/** DigitalOcean's port range ("22", "1-65535", "all") as nftables writes it; undefined: every port. */
function ports(range?: string): string | undefined {
    if (!range || range === "all" || range === "0") return undefined;
    if (!/^[0-9]+(-[0-9]+)?$/.test(range)) throw new Error(`firewall emulation: port range ${range}`);
    return range;
}

/** The nftables lines that admit one inbound rule's traffic. */
export function ruleLines(rule: InboundRule, tagged: Tagged[]): string[] {
    const sources = [
        ...(rule.sourceAddresses ?? []),
        ...tagged.filter((t) => t.tags.some((g) => rule.sourceTags?.includes(g))).flatMap((t) => addressesOf(t.host)),
    ];
    const v4 = sources.filter((s) => net.isIPv4(s.split("/")[0]));
    const v6 = sources.filter((s) => net.isIPv6(s.split("/")[0]));
    const match =
        rule.protocol === "icmp"
            ? { v4: "meta l4proto icmp", v6: "meta l4proto ipv6-icmp" }
            : { v4: rule.protocol, v6: rule.protocol };
    const dport = rule.protocol === "icmp" ? undefined : ports(rule.portRange);
    const l4 = (p: string) => (dport ? `${p} dport ${dport}` : rule.protocol === "icmp" ? p : `meta l4proto ${p}`);
    const lines: string[] = [];
    if (v4.length > 0) lines.push(`ip saddr { ${v4.join(", ")} } ${l4(match.v4)} accept`);
    if (v6.length > 0) lines.push(`ip6 saddr { ${v6.join(", ")} } ${l4(match.v6)} accept`);
    return lines;
}

/** The nftables script for one host, or undefined when no firewall covers it (everything admitted). */
export function hostScript(host: Tagged, firewalls: Props[], tagged: Tagged[]): string | undefined {
    const covering = firewalls.filter((f) =>
        ((f.tags as string[] | undefined) ?? []).some((t) => host.tags.includes(t)),
    );
    if (covering.length === 0) return undefined;
    const rules = covering.flatMap((f) =>
        ((f.inboundRules as InboundRule[] | undefined) ?? []).flatMap((r) => ruleLines(r, tagged)),
    );
    return [
        `table inet ${TABLE} {`,
        "    chain input {",
        "        type filter hook input priority filter - 10; policy drop;",
        "        ct state established,related accept",
        // DigitalOcean filters a droplet's own two links only; a tunnel's inner traffic (wg0) it never sees.
        '        iifname != { "eth0", "eth1" } accept',
        ...rules.map((l) => `        ${l}`),
        "    }",
        "}",
        "",
    ].join("\n");
}

/** Puts every host's rules in place (and removes them from hosts no firewall covers any more). */
export function applyFirewalls(engine: EngineState): void {
    const firewalls = Object.entries(engine.resources)
        .filter(([k]) => k.startsWith(`${FIREWALL}::`))
        .map(([, r]) => r.inputs);
    const tagged = taggedHosts(engine);
    for (const t of tagged) {
        const script = hostScript(t, firewalls, tagged);
        // Create-then-delete makes the delete safe when the table does not exist yet; one transaction.
        const text = `table inet ${TABLE}\ndelete table inet ${TABLE}\n${script ?? ""}`;
        const r = spawnSync("ip", ["netns", "exec", t.host.netns, "nft", "-f", "-"], { input: text, encoding: "utf8" });
        if (r.status !== 0) throw new Error(`firewall emulation on ${t.host.name}: nft failed: ${r.stderr}`);
    }
}

export const emulatedTypes = [FIREWALL, DROPLET, "digitalocean:index/reservedIpAssignment:ReservedIpAssignment"];

export type PortState = "open" | "refused" | "filtered";

/**
 * TCP connects from inside a namespace (from `localAddress` when given), all at once: "open" (connected),
 * "refused" (a reset: nothing listens, but nothing filters either) or "filtered" (no answer within 1.5 s).
 */
export async function probe(
    netns: string,
    targets: { host: string; port: number; localAddress?: string }[],
): Promise<PortState[]> {
    const script = `
        const net = require("net");
        const targets = JSON.parse(process.argv[1]);
        Promise.all(targets.map((t) => new Promise((resolve) => {
            const s = net.connect({ host: t.host, port: t.port, localAddress: t.localAddress });
            const done = (state) => { clearTimeout(timer); s.destroy(); resolve(state); };
            const timer = setTimeout(() => done("filtered"), 1500);
            s.on("connect", () => done("open"));
            s.on("error", (e) => done(e.code === "ECONNREFUSED" ? "refused" : "filtered"));
        }))).then((r) => console.log(JSON.stringify(r)));`;
    const r = await runIn(netns, [process.execPath, "-e", script, JSON.stringify(targets)], undefined, {}, 30e3);
    if (r.code !== 0) throw new Error(`probe from ${netns} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as PortState[];
}
