// bench:deploy's chart (bench/chart.ts): per second of the roll, the requests each host served, failed
// requests and DDP (re)subscriptions, and the LB's open connections to each host; a shaded band marks
// each host while the LB has it drained.
import { esc, legend, panel, Panel, svgDocument } from "./chart";

/** One second of the run, from the load's start. Keys of requests/connections: host names. */
export interface Second {
    requests: Record<string, number>;
    failed: number;
    ddpSubscribed: number;
    connections: Record<string, number>;
    draining: string[];
}

const COLORS = ["#2b6cb0", "#2f855a", "#b7791f", "#6b46c1", "#c53030"];
const FAILED = "#e53e3e";
const DDP = "#4a5568";
const W = 920;
const H = 220;

function line(p: Panel, xs: number[], values: number[], color: string, label: string): string {
    const pts = values.map((v, i) => `${xs[i].toFixed(1)},${p.y(v).toFixed(1)}`).join(" ");
    return `<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="1.5"><title>${esc(label)}</title></polyline>`;
}

function drainBands(p: Panel, seconds: Second[], hosts: string[], x: (i: number) => number, dx: number): string[] {
    const out: string[] = [];
    hosts.forEach((h, j) => {
        seconds.forEach((s, i) => {
            if (s.draining.includes(h))
                out.push(
                    `<rect x="${x(i) - dx / 2}" y="${p.top}" width="${dx}" height="${p.bottom - p.top}" fill="${COLORS[j % COLORS.length]}" opacity="0.15"/>`,
                );
        });
    });
    return out;
}

export function deployChart(seconds: Second[], hosts: string[]): string {
    const n = Math.max(seconds.length, 2);
    const panels: string[] = [];
    const series = (i: number, title: string, max: number, draw: (p: Panel, xs: number[]) => string[]) => {
        const p = panel({ x0: 0, y0: 30 + i * H, w: W, h: H }, title, max * 1.1);
        const dx = (p.right - p.left) / (n - 1);
        const xs = seconds.map((_, k) => p.left + k * dx);
        p.out.push(...drainBands(p, seconds, hosts, (k) => xs[k], dx), ...draw(p, xs));
        for (let t = 0; t < seconds.length; t += 10)
            p.out.push(`<text x="${xs[t]}" y="${p.bottom + 14}" text-anchor="middle" font-size="10">${t}s</text>`);
        panels.push(p.out.join("\n"));
    };
    const perHost = (key: "requests" | "connections") => hosts.map((h) => seconds.map((s) => s[key][h] ?? 0));
    const requests = perHost("requests");
    series(
        0,
        "requests per second served by each host (shaded: the host is drained on the LB)",
        Math.max(1, ...requests.flat()),
        (p, xs) => requests.map((v, j) => line(p, xs, v, COLORS[j % COLORS.length], `${hosts[j]} requests/s`)),
    );
    const failed = seconds.map((s) => s.failed);
    const ddp = seconds.map((s) => s.ddpSubscribed);
    series(
        1,
        "failed requests (red) and DDP clients (re)subscribed (grey) per second",
        Math.max(1, ...failed, ...ddp),
        (p, xs) => [line(p, xs, ddp, DDP, "DDP subscribed/s"), line(p, xs, failed, FAILED, "failed/s")],
    );
    const conns = perHost("connections");
    series(2, "open connections from the LB to each host", Math.max(1, ...conns.flat()), (p, xs) =>
        conns.map((v, j) => line(p, xs, v, COLORS[j % COLORS.length], `${hosts[j]} connections`)),
    );
    const key = legend(
        hosts.map((h, j) => ({ label: h, color: COLORS[j % COLORS.length] })),
        150,
    );
    return svgDocument(W, 30 + 3 * H, [key, ...panels]);
}
