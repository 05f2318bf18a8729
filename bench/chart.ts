// The pieces of the benches' hand-written SVG charts (no charting dependency): a document, a legend and
// a panel (title, horizontal grid with labels, a y scale from 0 to a max). bench/wsChart.ts draws bars
// in them, bench/deployChart.ts per-second series.

export const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
export const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));

export interface Box {
    x0: number;
    y0: number;
    w: number;
    h: number;
}

export interface Panel {
    /** SVG elements drawn so far (title and grid); callers push their marks. */
    out: string[];
    /** Plot area: left, right, top and bottom edges in SVG coordinates. */
    left: number;
    right: number;
    top: number;
    bottom: number;
    /** A value's y coordinate (0 at the bottom, max at the top). */
    y: (v: number) => number;
}

const PAD = { left: 48, right: 12, top: 28, bottom: 42 };

/** A panel with its title and 5 grid lines from 0 to `max` (max 0: a flat scale). */
export function panel(box: Box, title: string, max: number): Panel {
    const left = box.x0 + PAD.left;
    const right = box.x0 + box.w - PAD.right;
    const top = box.y0 + PAD.top;
    const bottom = box.y0 + box.h - PAD.bottom;
    const y = (v: number) => bottom - (max > 0 ? (v / max) * (bottom - top) : 0);
    const out = [
        `<text x="${box.x0 + box.w / 2}" y="${box.y0 + 18}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
    ];
    for (let t = 0; t <= 4; t++) {
        const v = (max / 4) * t;
        out.push(
            `<line x1="${left}" x2="${right}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
            `<text x="${left - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${fmt(v)}</text>`,
        );
    }
    return { out, left, right, top, bottom, y };
}

/** A row of colored squares with labels at the top left. */
export function legend(items: { label: string; color: string }[], step = 170): string {
    return items
        .map(
            ({ label, color }, i) =>
                `<rect x="${20 + i * step}" y="8" width="12" height="12" fill="${color}"/><text x="${36 + i * step}" y="18">${esc(label)}</text>`,
        )
        .join("\n");
}

export function svgDocument(width: number, height: number, parts: string[]): string {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
${parts.join("\n")}
</svg>
`;
}
