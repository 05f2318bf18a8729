// Per-client-address limits on the public ports (connectionsPerIp, requestsPerSecondPerIp): beyond them a
// client gets 429, while other addresses, and the admin API, are served as before.
import WebSocket from "ws";
import { tempDir } from "../support/files";
import { request } from "../support/http";
import { Backend, loopbackView, startBackend, startLb, stopAll } from "../support/nginx";
import { freePort } from "../support/ports";

jest.setTimeout(60000);

let PORTS: { http: number; https: number; admin: number };
let backend: Backend;

beforeAll(async () => {
    const dir = tempDir("limits");
    PORTS = { http: await freePort(), https: await freePort(), admin: await freePort() };
    backend = await startBackend("127.0.0.23", await freePort());
    await startLb(
        loopbackView(dir, [{ ip: backend.ip, port: backend.port }], PORTS, {
            // Small on purpose: 3 open connections, 1 request per second with a burst of 20.
            limits: { connectionsPerIp: 3, requestsPerSecondPerIp: 1 },
        }),
    );
});

afterAll(stopAll);

/** Opens a WebSocket from `from`; resolves with it once open, or with the HTTP status that refused it. */
function openWs(from: string): Promise<WebSocket | number> {
    const ws = new WebSocket(`wss://127.0.0.1:${PORTS.https}/websocket`, {
        rejectUnauthorized: false,
        localAddress: from,
    });
    return new Promise((resolve, reject) => {
        ws.on("open", () => resolve(ws));
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("error", reject);
    });
}

test("connections: an address holds at most connectionsPerIp WebSockets; others are unaffected", async () => {
    const held: WebSocket[] = [];
    try {
        for (let i = 0; i < 3; i++) {
            const ws = await openWs("127.0.0.161");
            expect(ws).toBeInstanceOf(WebSocket);
            held.push(ws as WebSocket);
        }
        expect(await openWs("127.0.0.161")).toBe(429);
        const other = await openWs("127.0.0.162");
        expect(other).toBeInstanceOf(WebSocket);
        held.push(other as WebSocket);
        // One closed: the address may open one again.
        const closed = new Promise((r) => held[0].once("close", r));
        held[0].close();
        await closed;
        let again: WebSocket | number = 0;
        for (let i = 0; i < 20 && !(again instanceof WebSocket); i++) {
            // nginx notices the close a moment after the client: retry a bounded number of times.
            again = await openWs("127.0.0.161");
            if (!(again instanceof WebSocket)) await new Promise((r) => setTimeout(r, 100));
        }
        expect(again).toBeInstanceOf(WebSocket);
        held.push(again as WebSocket);
    } finally {
        for (const ws of held) ws.terminate();
    }
});

test("requests: a burst of 20 s worth passes at once, then 429; another address and the admin API still pass", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
        const r = await request({ url: `https://127.0.0.1:${PORTS.https}/who`, localAddress: "127.0.0.163" });
        statuses.push(r.status);
    }
    const ok = statuses.filter((s) => s === 200).length;
    // 1 + burst 20, plus at most a couple refilled at 1/s while the loop ran.
    expect(ok).toBeGreaterThanOrEqual(21);
    expect(ok).toBeLessThan(30);
    expect(statuses.filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
    const other = await request({ url: `https://127.0.0.1:${PORTS.https}/who`, localAddress: "127.0.0.164" });
    expect(other.status).toBe(200);
    const admin = await request({ url: `http://127.0.0.1:${PORTS.admin}/lb/peers`, localAddress: "127.0.0.163" });
    expect(admin.status).toBe(200);
});
