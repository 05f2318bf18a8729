// What a browser and the app see through the LB: TLS, the 80 -> 443 redirect, forwarded headers,
// WebSockets, cookie stickiness and real-IP handling behind a trusted proxy.
import * as tls from "tls";
import * as fs from "fs";
import * as crypto from "crypto";
import WebSocket from "ws";
import { tempDir } from "../support/files";
import { request } from "../support/http";
import { Backend, BackendEcho, clientAddrs, Lb, loopbackView, startBackend, startLb, stopAll } from "../support/nginx";

jest.setTimeout(60000);

const PORTS = { http: 19280, https: 19243, admin: 19281 };
let dir: string;
let backends: Backend[];
let lb: Lb;

beforeAll(async () => {
    dir = tempDir("proxy");
    backends = await Promise.all([startBackend("127.0.0.21", 19211), startBackend("127.0.0.22", 19212)]);
    lb = await startLb(
        loopbackView(
            dir,
            backends.map((b) => ({ ip: b.ip, port: b.port })),
            PORTS,
        ),
    );
});

afterAll(stopAll);

test("port 80 answers 301 to https with path and query kept", async () => {
    const r = await request({
        url: `http://127.0.0.1:${PORTS.http}/some/path?a=1&b=two%20words`,
        headers: { Host: "lb.test" },
    });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe(`https://lb.test:${PORTS.https}/some/path?a=1&b=two%20words`);
});

test("ACME challenges on port 80 are served from the webroot, not redirected", async () => {
    fs.mkdirSync(`${dir}/acme/.well-known/acme-challenge`, { recursive: true });
    fs.writeFileSync(`${dir}/acme/.well-known/acme-challenge/token123`, "token123.key\n");
    const r = await request({ url: `http://127.0.0.1:${PORTS.http}/.well-known/acme-challenge/token123` });
    expect(r.status).toBe(200);
    expect(r.body).toBe("token123.key\n");
});

test("the configured certificate is served over TLS 1.2+ with h2 offered", async () => {
    const pem = fs.readFileSync(lb.view.tls.certificate, "utf8");
    const expected = new crypto.X509Certificate(pem).fingerprint256;
    const seen = await new Promise<{ fp: string; proto: string | false | null; version: string | null }>(
        (resolve, reject) => {
            const s = tls.connect(
                {
                    host: "127.0.0.1",
                    port: PORTS.https,
                    servername: "lb.test",
                    rejectUnauthorized: false,
                    ALPNProtocols: ["h2", "http/1.1"],
                },
                () => {
                    resolve({
                        fp: s.getPeerX509Certificate()!.fingerprint256,
                        proto: s.alpnProtocol,
                        version: s.getProtocol(),
                    });
                    s.end();
                },
            );
            s.on("error", reject);
        },
    );
    expect(seen.fp).toBe(expected);
    expect(seen.proto).toBe("h2");
    expect(["TLSv1.2", "TLSv1.3"]).toContain(seen.version);
    await expect(
        new Promise((resolve, reject) => {
            const s = tls.connect(
                {
                    host: "127.0.0.1",
                    port: PORTS.https,
                    rejectUnauthorized: false,
                    maxVersion: "TLSv1.1",
                    minVersion: "TLSv1",
                },
                () => resolve(s.getProtocol()),
            );
            s.on("error", reject);
        }),
    ).rejects.toThrow();
});

test("the app gets X-Forwarded-For (the client, a spoofed one dropped), X-Forwarded-Proto https and the Host", async () => {
    const r = await request<BackendEcho>({
        url: `https://127.0.0.1:${PORTS.https}/headers?q=1`,
        localAddress: "127.0.0.77",
        headers: { Host: "lb.test", "X-Forwarded-For": "6.6.6.6" },
    });
    expect(r.status).toBe(200);
    expect(r.json.url).toBe("/headers?q=1");
    expect(r.json.headers["x-forwarded-for"]).toBe("127.0.0.77");
    expect(r.json.headers["x-forwarded-proto"]).toBe("https");
    expect(r.json.headers.host).toBe("lb.test");
    // Backend connections are kept alive: no "Connection: close" reaches the app.
    expect(r.json.headers.connection).toBeUndefined();
});

test("a WebSocket is proxied and stays on one backend", async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${PORTS.https}/websocket`, {
        rejectUnauthorized: false,
        localAddress: "127.0.0.78",
    });
    const messages: { backend: string; echo?: string }[] = [];
    await new Promise<void>((resolve, reject) => {
        ws.on("message", (m) => {
            messages.push(JSON.parse(m.toString()));
            if (messages.length === 1) ws.send("ping-1");
            if (messages.length === 2) resolve();
        });
        ws.on("error", reject);
    });
    ws.close();
    const http = await request<BackendEcho>({
        url: `https://127.0.0.1:${PORTS.https}/who`,
        localAddress: "127.0.0.78",
    });
    expect(messages[1]).toEqual({ backend: messages[0].backend, echo: "ping-1" });
    expect(messages[0].backend).toBe(http.json.backend);
});

describe("stickiness=cookie", () => {
    const CPORTS = { http: 19282, https: 19244, admin: 19283 };
    beforeAll(async () => {
        await startLb(
            loopbackView(
                `${dir}`,
                backends.map((b) => ({ ip: b.ip, port: b.port })),
                CPORTS,
                {
                    stickiness: "cookie",
                    paths: { ...lb.view.paths, prefix: `${dir}/tree-cookie`, pid: `${dir}/logs/cookie.pid` },
                },
            ),
        );
    });

    test("a new client gets a cookie, and each cookie sticks to one backend whatever the client address", async () => {
        const first = await request<BackendEcho>({
            url: `https://127.0.0.1:${CPORTS.https}/who`,
            localAddress: "127.0.0.90",
        });
        const setCookie = first.headers["set-cookie"]!;
        expect(setCookie).toHaveLength(1);
        expect(setCookie[0]).toMatch(/^mdo_sticky=[0-9a-f]{32}; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
        const cookie = setCookie[0].split(";")[0];
        for (const addr of clientAddrs(10, 90)) {
            const r = await request<BackendEcho>({
                url: `https://127.0.0.1:${CPORTS.https}/who`,
                localAddress: addr,
                headers: { Cookie: cookie },
            });
            expect(r.json.backend).toBe(first.json.backend);
            expect(r.headers["set-cookie"]).toBeUndefined();
        }
        // Different cookies spread over both backends.
        const seen = new Set<string>();
        for (let i = 0; i < 30; i++) {
            const r = await request<BackendEcho>({
                url: `https://127.0.0.1:${CPORTS.https}/who`,
                headers: { Cookie: `mdo_sticky=client${i}` },
            });
            seen.add(r.json.backend);
        }
        expect(seen.size).toBe(2);
    });
});

describe("trustedProxyCount=1", () => {
    const TPORTS = { http: 19284, https: 19245, admin: 19285 };
    beforeAll(async () => {
        await startLb(
            loopbackView(
                `${dir}`,
                backends.map((b) => ({ ip: b.ip, port: b.port })),
                TPORTS,
                {
                    trustedProxyCount: 1,
                    // The proxy's addresses (trustedProxyCidrs): only they may set X-Forwarded-For.
                    realIpFrom: ["127.0.0.31", "127.0.0.32/32"],
                    paths: { ...lb.view.paths, prefix: `${dir}/tree-proxy`, pid: `${dir}/logs/proxy.pid` },
                },
            ),
        );
    });

    test("the client address comes from the proxy's X-Forwarded-For entry: it keys stickiness and the chain reaches the app", async () => {
        const byClient = new Map<string, string>();
        for (let i = 0; i < 20; i++) {
            const client = `203.0.113.${i + 1}`;
            // Two requests per client, arriving through two different proxy addresses.
            const a = await request<BackendEcho>({
                url: `https://127.0.0.1:${TPORTS.https}/who`,
                localAddress: "127.0.0.31",
                headers: { "X-Forwarded-For": `9.9.9.9, ${client}` },
            });
            const b = await request<BackendEcho>({
                url: `https://127.0.0.1:${TPORTS.https}/who`,
                localAddress: "127.0.0.32",
                headers: { "X-Forwarded-For": client },
            });
            expect(b.json.backend).toBe(a.json.backend);
            expect(a.json.headers["x-forwarded-for"]).toBe(`9.9.9.9, ${client}, 127.0.0.31`);
            expect(a.json.headers["x-real-ip"]).toBe(client);
            byClient.set(client, a.json.backend);
        }
        expect(new Set(byClient.values()).size).toBe(2);
    });

    test("a client that bypasses the proxy cannot choose its address: its X-Forwarded-For is replaced", async () => {
        const r = await request<BackendEcho>({
            url: `https://127.0.0.1:${TPORTS.https}/who`,
            localAddress: "127.0.0.34",
            headers: { "X-Forwarded-For": "203.0.113.99" },
        });
        expect(r.json.headers["x-forwarded-for"]).toBe("127.0.0.34");
        expect(r.json.headers["x-real-ip"]).toBe("127.0.0.34");
    });

    test("/check-status access ignores X-Forwarded-For", async () => {
        const r = await request({
            url: `https://127.0.0.1:${TPORTS.https}/check-status?format=json`,
            localAddress: "127.0.0.33",
            headers: { "X-Forwarded-For": "127.0.0.1" },
        });
        expect(r.status).toBe(403);
    });
});
