// One HTTP(S) request per call on a fresh connection, so `localAddress` picks the client's 127.0.0.x every
// time; self-signed certificates are accepted (the suites check TLS on their own where it matters).
import * as http from "http";
import * as https from "https";

export interface Reply<T = unknown> {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
    /** The body parsed as JSON (undefined when it is not JSON); T is what the caller expects it to be. */
    json: T;
}

export interface RequestOptions {
    url: string;
    method?: string;
    localAddress?: string;
    headers?: Record<string, string>;
    timeoutMs?: number;
    /** An agent to reuse connections (default: none, a new connection per request). */
    agent?: http.Agent;
}

export function request<T = unknown>(o: RequestOptions): Promise<Reply<T>> {
    const u = new URL(o.url);
    const mod = u.protocol === "https:" ? https : http;
    return new Promise((resolve, reject) => {
        const req = mod.request(
            u,
            {
                method: o.method ?? "GET",
                localAddress: o.localAddress,
                headers: o.headers,
                agent: o.agent ?? false,
                rejectUnauthorized: false,
                timeout: o.timeoutMs ?? 5000,
            },
            (res) => {
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("error", reject);
                res.on("end", () => {
                    const body = Buffer.concat(chunks).toString();
                    let json: unknown;
                    try {
                        json = JSON.parse(body);
                    } catch {
                        // not JSON
                    }
                    resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: json as T });
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error(`timed out: ${o.url}`)));
        req.on("error", reject);
        req.end();
    });
}
