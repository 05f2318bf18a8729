// bench:ws's chart as a hand-written SVG (no charting dependency): four panels of grouped bars, ours next
// to HAProxy for each K and mode (plain ws, TLS wss).
import type { Phase } from "./ws";

const COLORS = { ours: "#2b6cb0", haproxy: "#c05621" } as const;
const PANELS: { key: keyof Phase; title: string }[] = [
    { key: "memKiBPerConn", title: "LB memory per connection (KiB)" },
    { key: "cpuSPer1000", title: "LB CPU seconds per 1000 connections" },
    { key: "subscribeS", title: "seconds until all K subscribed" },
    { key: "pingP99Ms", title: "p99 DDP ping round trip (ms)" },
];
const W = 460;
const H = 260;
const PAD = { left: 48, right: 12, top: 28, bottom: 42 };

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

function panel(phases: Phase[], steps: number[], key: keyof Phase, title: string, x0: number, y0: number): string {
    const groups = steps.flatMap((k) => (["plain", "tls"] as const).map((mode) => ({ k, mode })));
    const value = (lb: "ours" | "haproxy", k: number, mode: string) =>
        Number(phases.find((p) => p.lb === lb && p.k === k && p.mode === mode)?.[key] ?? 0);
    const max = Math.max(...groups.flatMap((g) => [value("ours", g.k, g.mode), value("haproxy", g.k, g.mode)])) * 1.15;
    const plotW = W - PAD.left - PAD.right;
    const plotH = H - PAD.top - PAD.bottom;
    const gw = plotW / groups.length;
    const bw = gw * 0.35;
    const y = (v: number) => y0 + PAD.top + plotH - (max > 0 ? (v / max) * plotH : 0);
    const out: string[] = [
        `<text x="${x0 + W / 2}" y="${y0 + 18}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
    ];
    for (let t = 0; t <= 4; t++) {
        const v = (max / 4) * t;
        out.push(
            `<line x1="${x0 + PAD.left}" x2="${x0 + W - PAD.right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
            `<text x="${x0 + PAD.left - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${fmt(v)}</text>`,
        );
    }
    groups.forEach((g, i) => {
        const gx = x0 + PAD.left + i * gw + (gw - 2 * bw) / 2;
        (["ours", "haproxy"] as const).forEach((lb, j) => {
            const v = value(lb, g.k, g.mode);
            out.push(
                `<rect x="${gx + j * bw}" y="${y(v)}" width="${bw - 1}" height="${y(0) - y(v)}" fill="${COLORS[lb]}"><title>${lb} ${g.mode} K=${g.k}: ${fmt(v)}</title></rect>`,
            );
        });
        out.push(
            `<text x="${gx + bw}" y="${y0 + H - PAD.bottom + 14}" text-anchor="middle" font-size="10">${g.mode === "tls" ? "wss" : "ws"}</text>`,
        );
        if (g.mode === "plain")
            out.push(
                `<text x="${gx + bw + gw / 2}" y="${y0 + H - PAD.bottom + 28}" text-anchor="middle" font-size="10">K=${g.k}</text>`,
            );
    });
    return out.join("\n");
}

export function wsChart(phases: Phase[], steps: number[]): string {
    const width = 2 * W;
    const height = 2 * H + 30;
    const body = PANELS.map((p, i) => panel(phases, steps, p.key, p.title, (i % 2) * W, Math.floor(i / 2) * H + 30));
    const legend = (["ours", "haproxy"] as const)
        .map(
            (lb, i) =>
                `<rect x="${20 + i * 170}" y="8" width="12" height="12" fill="${COLORS[lb]}"/><text x="${36 + i * 170}" y="18">${lb === "ours" ? "ours (nginx + Lua)" : "HAProxy 2.6 at its best"}</text>`,
        )
        .join("\n");
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
${legend}
${body.join("\n")}
</svg>
`;
}
