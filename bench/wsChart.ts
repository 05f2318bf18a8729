// bench:ws's chart as a hand-written SVG (bench/chart.ts): four panels of grouped bars, ours next to
// HAProxy for each K and mode (plain ws, TLS wss).
import { fmt, legend, panel, svgDocument } from "./chart";
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

function bars(phases: Phase[], steps: number[], key: keyof Phase, title: string, x0: number, y0: number): string {
    const groups = steps.flatMap((k) => (["plain", "tls"] as const).map((mode) => ({ k, mode })));
    const value = (lb: "ours" | "haproxy", k: number, mode: string) =>
        Number(phases.find((p) => p.lb === lb && p.k === k && p.mode === mode)?.[key] ?? 0);
    const max = Math.max(...groups.flatMap((g) => [value("ours", g.k, g.mode), value("haproxy", g.k, g.mode)])) * 1.15;
    const p = panel({ x0, y0, w: W, h: H }, title, max);
    const gw = (p.right - p.left) / groups.length;
    const bw = gw * 0.35;
    groups.forEach((g, i) => {
        const gx = p.left + i * gw + (gw - 2 * bw) / 2;
        (["ours", "haproxy"] as const).forEach((lb, j) => {
            const v = value(lb, g.k, g.mode);
            p.out.push(
                `<rect x="${gx + j * bw}" y="${p.y(v)}" width="${bw - 1}" height="${p.y(0) - p.y(v)}" fill="${COLORS[lb]}"><title>${lb} ${g.mode} K=${g.k}: ${fmt(v)}</title></rect>`,
            );
        });
        p.out.push(
            `<text x="${gx + bw}" y="${p.bottom + 14}" text-anchor="middle" font-size="10">${g.mode === "tls" ? "wss" : "ws"}</text>`,
        );
        if (g.mode === "plain")
            p.out.push(
                `<text x="${gx + bw + gw / 2}" y="${p.bottom + 28}" text-anchor="middle" font-size="10">K=${g.k}</text>`,
            );
    });
    return p.out.join("\n");
}

export function wsChart(phases: Phase[], steps: number[]): string {
    const body = PANELS.map((p, i) => bars(phases, steps, p.key, p.title, (i % 2) * W, Math.floor(i / 2) * H + 30));
    const key = legend([
        { label: "ours (nginx + Lua)", color: COLORS.ours },
        { label: "HAProxy 2.6 at its best", color: COLORS.haproxy },
    ]);
    return svgDocument(2 * W, 2 * H + 30, [key, ...body]);
}
