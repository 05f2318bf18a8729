// A stand-in for the LB admin API (/lb/peers/NAME[/drain|/undrain]) on loopback: records every call, and reports a peer
// "up" the way the LB's checker would, by probing the peer's health path (here on 127.0.0.1).
import * as http from "http";
import * as net from "net";
import { request } from "../support/http";

export interface LbCall {
    method: string;
    path: string;
    /** The query string without "?" ("" when none). */
    query: string;
    at: number;
}

export interface FakeLb {
    port: number;
    calls: LbCall[];
    /** "ok": drain/undrain succeed; "fail": they answer 500. */
    admin: "ok" | "fail";
    /** "probe": status follows the peer's health (an undrain's answer too, as the LB's own probe);
     * "late": the same, but an undrain answers "down" (its probe failed: the checker decides later);
     * "never": always down. */
    checker: "probe" | "late" | "never";
    close(): Promise<void>;
}

/** `at`: where it listens (default 127.0.0.1, any free port); a second LB takes 127.0.0.2 and the first's port. */
export async function startFakeLb(healthPath = "/", at: { host?: string; port?: number } = {}): Promise<FakeLb> {
    const draining = new Map<string, boolean>();
    const lb: FakeLb = { port: 0, calls: [], admin: "ok", checker: "probe", close: async () => undefined };
    const server = http.createServer(async (req, res) => {
        const url = new URL(req.url ?? "/", "http://lb");
        lb.calls.push({ method: req.method ?? "", path: url.pathname, query: url.search.slice(1), at: Date.now() });
        const m = /^\/lb\/peers\/([^/]+)(?:\/(drain|undrain))?$/.exec(url.pathname);
        if (!m) {
            res.writeHead(404).end("{}");
            return;
        }
        const peer = decodeURIComponent(m[1]);
        if (m[2]) {
            if (req.method !== "POST") return void res.writeHead(405).end("{}");
            if (lb.admin === "fail") return void res.writeHead(500).end('{"error":"test says no"}');
            draining.set(peer, m[2] === "drain");
        }
        let status = "down";
        if (lb.checker === "probe" || (lb.checker === "late" && m[2] !== "undrain")) {
            const port = peer.slice(peer.lastIndexOf(":") + 1);
            try {
                const r = await request({ url: `http://127.0.0.1:${port}${healthPath}`, timeoutMs: 1000 });
                if (r.status >= 200 && r.status < 400) status = "up";
            } catch {
                status = "down";
            }
        }
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ name: peer, status, draining: draining.get(peer) ?? false }));
    });
    await new Promise<void>((resolve) => server.listen(at.port ?? 0, at.host ?? "127.0.0.1", resolve));
    lb.port = (server.address() as net.AddressInfo).port;
    lb.close = () =>
        new Promise<void>((resolve) => {
            server.closeAllConnections();
            server.close(() => resolve());
        });
    return lb;
}
