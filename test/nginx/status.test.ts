// /check-status formats and filters, who may read it, and the admin API (drain/undrain, self-only rule).
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import WebSocket from "ws";
import { selfSignedCert } from "../support/certs";
import { tempDir } from "../support/files";
import { request } from "../support/http";
import {
    Backend,
    clientAddrs,
    loopbackView,
    mapClients,
    PeerList,
    peerStatus,
    startBackend,
    startLb,
    StatusPage,
    stopAll,
} from "../support/nginx";
import { stop } from "../support/processes";
import { sleep, waitFor } from "../support/wait";

jest.setTimeout(60000);

const PORTS = { http: 19380, https: 19343, admin: 19381 };
const STATUS = `https://127.0.0.1:${PORTS.https}/check-status`;
const ADMIN = `http://127.0.0.1:${PORTS.admin}`;
let dir: string;
let backends: Backend[];

/** The established connections to `name` as the kernel lists them (ss), for comparison with the page. */
function ssCount(name: string): number {
    const [ip, port] = name.split(":");
    const out = execFileSync("ss", ["-tnH", "state", "established", "dst", ip, "dport", "=", `:${port}`], {
        encoding: "utf8",
    });
    return out.split("\n").filter((l) => l.trim() !== "").length;
}

const RELEASE = "3f1c9a7e".repeat(8);

let certNotAfter: number;

beforeAll(async () => {
    dir = tempDir("status");
    // A certificate valid past 2049, so its notAfter is a GeneralizedTime (the harness's own 2-day one,
    // a UTCTime, is read in status-page.test.ts).
    selfSignedCert(dir, "lb.test", 12000);
    certNotAfter = Date.parse(new crypto.X509Certificate(fs.readFileSync(path.join(dir, "cert.pem"))).validTo) / 1000;
    backends = await Promise.all([
        startBackend("127.0.0.41", 19311),
        startBackend("127.0.0.42", 19312),
        startBackend("127.0.0.43", 19313),
    ]);
    await startLb(
        loopbackView(
            dir,
            backends.map((b, i) => ({ ip: b.ip, port: b.port, ...(i < 2 ? { host: `app-${i + 1}` } : {}) })),
            PORTS,
        ),
    );
    // The third one goes down so that the filters have something to separate.
    await stop(backends[2].proc, "SIGKILL");
    await waitFor("third down", async () => (await peerStatus(PORTS.admin, backends[2].name)).status === "down", 5000);
    await waitFor(
        "others counted",
        async () => {
            const r = await request<StatusPage>({ url: `${STATUS}?format=json` });
            return r.json.servers.server.every((s) => s.rise >= 2 || s.fall >= 2);
        },
        5000,
    );
});

afterAll(stopAll);

describe("/check-status", () => {
    test("json has the check module's shape", async () => {
        const r = await request<StatusPage>({ url: `${STATUS}?format=json` });
        expect(r.status).toBe(200);
        expect(r.headers["content-type"]).toBe("application/json");
        const s = r.json.servers;
        expect(Object.keys(r.json).sort()).toEqual(["lb", "servers"]);
        expect(Object.keys(s).sort()).toEqual(["generation", "server", "total"]);
        expect(s.total).toBe(3);
        expect(s.generation).toBe(1);
        expect(s.server.map((x) => [x.index, x.upstream, x.name, x.status, x.type, x.port])).toEqual([
            [0, "meteor_app", "127.0.0.41:19311", "up", "http", 0],
            [1, "meteor_app", "127.0.0.42:19312", "up", "http", 0],
            [2, "meteor_app", "127.0.0.43:19313", "down", "http", 0],
        ]);
        for (const x of s.server) {
            // The check module's fields, then ours.
            expect(Object.keys(x).sort()).toEqual(
                [
                    ...["fall", "index", "name", "port", "rise", "status", "type", "upstream"],
                    ...["check_ms", "checked_at", "connections", "draining", "host", "last_error", "last_error_at"],
                    ...["node", "release", "since"],
                ].sort(),
            );
            expect(x.status === "up" ? x.rise : x.fall).toBeGreaterThanOrEqual(2);
            expect(x.status === "up" ? x.fall : x.rise).toBe(0);
        }
    });

    test("json adds the droplet name, the last check, the last error, since when, and the certificate", async () => {
        const before = Date.now() / 1000;
        const r = (await request<StatusPage>({ url: `${STATUS}?format=json` })).json;
        const [a, , c] = r.servers.server;
        expect([a.host, r.servers.server[1].host, c.host]).toEqual(["app-1", "app-2", null]);
        expect(a).toMatchObject({ draining: false, last_error: null, release: null, node: null });
        expect(a.check_ms).toBeGreaterThanOrEqual(0);
        expect(a.check_ms).toBeLessThan(500);
        // Checks run every 300 ms: the last one is recent.
        expect(before - a.checked_at!).toBeLessThan(5);
        expect(c.last_error).toBe("connect: connection refused");
        expect(c.last_error_at).toBeGreaterThanOrEqual(c.since!);
        // The third went down after the start: its state is younger than the first's.
        expect(c.since).toBeGreaterThan(a.since!);
        expect(r.lb).toEqual({
            time: expect.any(Number),
            release: null,
            generation: 1,
            certificate: {
                path: path.join(dir, "cert.pem"),
                not_after: certNotAfter,
                days_left: Math.floor((certNotAfter - r.lb.time) / 86400),
            },
        });
        expect(Math.abs(r.lb.time - before)).toBeLessThan(5);
    });

    test("connections: what the kernel lists from the LB to each host (a WebSocket is one)", async () => {
        const sockets = clientAddrs(3, 200).map(
            (c) =>
                new WebSocket(`wss://127.0.0.1:${PORTS.https}/websocket`, {
                    rejectUnauthorized: false,
                    localAddress: c,
                }),
        );
        try {
            await Promise.all(sockets.map((w) => new Promise((resolve) => w.once("message", resolve))));
            const byHost = await mapClients(PORTS.https, clientAddrs(3, 200));
            // Compared with ss at nearly the same moment (idle keep-alive connections may close in between).
            const seen = await waitFor(
                "the page and ss agree",
                async () => {
                    const s = (await request<StatusPage>({ url: `${STATUS}?format=json` })).json.servers.server;
                    const counts = s.map((x) => x.connections);
                    const kernel = s.map((x) => ssCount(x.name));
                    return JSON.stringify(counts) === JSON.stringify(kernel) ? counts : undefined;
                },
                10000,
            );
            // At least one per WebSocket on each host (plus any idle keep-alive ones); none to the dead one.
            backends.forEach((b, i) =>
                expect(seen[i]).toBeGreaterThanOrEqual([...byHost.values()].filter((n) => n === b.name).length),
            );
            expect(seen[0]! + seen[1]!).toBeGreaterThanOrEqual(3);
            expect(seen[2]).toBe(0);
        } finally {
            for (const w of sockets) w.close();
        }
    });

    test("status filters", async () => {
        const up = (await request<StatusPage>({ url: `${STATUS}?format=json&status=up` })).json.servers;
        const down = (await request<StatusPage>({ url: `${STATUS}?format=json&status=down` })).json.servers;
        expect(up.total).toBe(2);
        expect(up.server.map((x) => x.name)).toEqual(["127.0.0.41:19311", "127.0.0.42:19312"]);
        expect(down.total).toBe(1);
        expect(down.server.map((x) => x.name)).toEqual(["127.0.0.43:19313"]);
        const csvDown = await request({ url: `${STATUS}?format=csv&status=down` });
        expect(csvDown.body.trim().split("\n")).toHaveLength(1);
        expect((await request({ url: `${STATUS}?status=sideways` })).status).toBe(400);
    });

    test("csv lines are index,upstream,name,status,rise,fall,type,port", async () => {
        const r = await request({ url: `${STATUS}?format=csv` });
        expect(r.headers["content-type"]).toBe("text/csv");
        const rows = r.body
            .trim()
            .split("\n")
            .map((l) => l.split(","));
        expect(rows.map((x) => [x[0], x[1], x[2], x[3], x[6], x[7]])).toEqual([
            ["0", "meteor_app", "127.0.0.41:19311", "up", "http", "0"],
            ["1", "meteor_app", "127.0.0.42:19312", "up", "http", "0"],
            ["2", "meteor_app", "127.0.0.43:19313", "down", "http", "0"],
        ]);
    });

    test("prometheus text exposes up, draining and the generation", async () => {
        const r = await request({ url: `${STATUS}?format=prometheus` });
        expect(r.headers["content-type"]).toBe("text/plain; version=0.0.4");
        const lines = r.body.split("\n");
        expect(lines).toContain('meteor_do_lb_peer_up{upstream="meteor_app",name="127.0.0.41:19311",type="http"} 1');
        expect(lines).toContain('meteor_do_lb_peer_up{upstream="meteor_app",name="127.0.0.43:19313",type="http"} 0');
        expect(lines).toContain(
            'meteor_do_lb_peer_draining{upstream="meteor_app",name="127.0.0.42:19312",type="http"} 0',
        );
        expect(lines).toContain("meteor_do_lb_config_generation 1");
        expect(lines).toContain(
            'meteor_do_lb_peer_info{upstream="meteor_app",name="127.0.0.41:19311",host="app-1",release="",node=""} 1',
        );
        expect(lines).toContain(`meteor_do_lb_certificate_expiry_timestamp_seconds ${certNotAfter}`);
        expect(r.body).toMatch(
            /^meteor_do_lb_peer_connections\{upstream="meteor_app",name="127\.0\.0\.43:19313",type="http"\} 0$/m,
        );
        expect(r.body).toMatch(
            /^meteor_do_lb_peer_check_duration_seconds\{upstream="meteor_app",name="127\.0\.0\.41:19311",type="http"\} [0-9.e-]+$/m,
        );
        expect(lines).toContain("# TYPE meteor_do_lb_peer_up gauge");
        const filtered = await request({ url: `${STATUS}?format=prometheus&status=up` });
        expect(filtered.body).not.toContain("127.0.0.43:19313");
    });

    test("html is the default: one row per peer, named, with its state; refresh is settable", async () => {
        const r = await request({ url: STATUS });
        expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
        const rows = [
            ...r.body.matchAll(
                /<tr class="peer s-(\w+)" data-name="([^"]+)"><td class="host" data-label="Host"><b>([^<]+)<\/b>/g,
            ),
        ];
        expect(rows.map((m) => [m[1], m[2], m[3]])).toEqual([
            ["up", "127.0.0.41:19311", "app-1"],
            ["up", "127.0.0.42:19312", "app-2"],
            ["down", "127.0.0.43:19313", "127.0.0.43:19313"],
        ]);
        expect(r.body).toContain('<main id="status" data-refresh="5">');
        expect(r.body).toContain("connect: connection refused");
        // Links stay relative, so the page works through a port forward.
        expect(r.body).toContain('<a href="?format=json">JSON</a>');
        expect(r.body).not.toMatch(/(href|src)="(https?:)?\/\//);
        expect((await request({ url: `${STATUS}?refresh=2&status=up` })).body).toContain('data-refresh="2"');
        expect((await request({ url: `${STATUS}?format=xml` })).status).toBe(400);
        for (const bad of ["-1", "1.5", "x", "3601"])
            expect([bad, (await request({ url: `${STATUS}?refresh=${bad}` })).status]).toEqual([bad, 400]);
    });

    test("a source outside loopback/VPC/adminCidrs is denied", async () => {
        // statusAllow here is 127.0.0.1/32 + 10.10.0.0/16: 127.0.0.9 stands for an outside address.
        const r = await request<StatusPage>({ url: `${STATUS}?format=json`, localAddress: "127.0.0.9" });
        expect(r.status).toBe(403);
        expect(r.body).not.toContain("meteor_app");
        expect((await request<StatusPage>({ url: `${STATUS}?format=json`, localAddress: "127.0.0.1" })).status).toBe(
            200,
        );
    });
});

describe("admin API", () => {
    const A = "127.0.0.41:19311";
    const B = "127.0.0.42:19312";

    test("lists peers and answers 404 for an unknown one", async () => {
        const r = await request<PeerList>({ url: `${ADMIN}/lb/peers` });
        const peer = (name: string, host: string | null, status: string) => ({
            name,
            host,
            status,
            draining: false,
            release: null,
            node: null,
        });
        expect(r.json).toEqual({
            peers: [peer(A, "app-1", "up"), peer(B, "app-2", "up"), peer("127.0.0.43:19313", null, "down")],
        });
        expect((await request({ url: `${ADMIN}/lb/peers/10.9.9.9:3000` })).status).toBe(404);
        expect((await request({ url: `${ADMIN}/lb/peers/${A}/drain` })).status).toBe(405);
    });

    test("another address may manage only its own peer; 127.0.0.1 may manage any", async () => {
        // 127.0.0.41 is A's own IP: it may drain A but not B.
        const denied = await request({
            url: `${ADMIN}/lb/peers/${B}/drain`,
            method: "POST",
            localAddress: "127.0.0.41",
        });
        expect(denied.status).toBe(403);
        expect((await peerStatus(PORTS.admin, B)).draining).toBe(false);
        const own = await request({ url: `${ADMIN}/lb/peers/${A}/drain`, method: "POST", localAddress: "127.0.0.41" });
        expect(own.status).toBe(200);
        expect(own.json).toMatchObject({ name: A, status: "up", draining: true });
        const self = await request({
            url: `${ADMIN}/lb/peers/${A}/undrain`,
            method: "POST",
            localAddress: "127.0.0.1",
        });
        expect(self.json).toMatchObject({ name: A, status: "up", draining: false });
        // An X-Forwarded-For header changes nothing.
        const spoof = await request({
            url: `${ADMIN}/lb/peers/${B}/drain`,
            method: "POST",
            localAddress: "127.0.0.41",
            headers: { "X-Forwarded-For": "127.0.0.1" },
        });
        expect(spoof.status).toBe(403);
    });

    test("drain: new clients go elsewhere, an open WebSocket stays open; undrain restores", async () => {
        const clients = clientAddrs(30, 120);
        const before = await mapClients(PORTS.https, clients);
        const onA = clients.filter((c) => before.get(c) === A);
        expect(onA.length).toBeGreaterThan(0);

        const ws = new WebSocket(`wss://127.0.0.1:${PORTS.https}/websocket`, {
            rejectUnauthorized: false,
            localAddress: onA[0],
        });
        const msgs: { backend: string; echo?: string }[] = [];
        ws.on("message", (m) => msgs.push(JSON.parse(m.toString())));
        await waitFor("ws hello", async () => msgs.length === 1, 3000);
        expect(msgs[0].backend).toBe(A);

        const d = await request({ url: `${ADMIN}/lb/peers/${A}/drain`, method: "POST" });
        expect(d.json).toMatchObject({ name: A, status: "up", draining: true });
        const during = await mapClients(PORTS.https, clients);
        for (const c of clients) {
            if (before.get(c) === A) expect(during.get(c)).not.toBe(A);
            else expect(during.get(c)).toBe(before.get(c));
        }
        // The open WebSocket still talks to A.
        ws.send("still-there");
        await waitFor("ws echo", async () => msgs.length === 2, 3000);
        expect(msgs[1]).toEqual({ backend: A, echo: "still-there" });
        expect(ws.readyState).toBe(WebSocket.OPEN);
        // The status page still reports the drained peer as up.
        const s = (await request<StatusPage>({ url: `${STATUS}?format=json&status=up` })).json.servers;
        expect(s.server.map((x) => x.name)).toContain(A);

        const u = await request({ url: `${ADMIN}/lb/peers/${A}/undrain`, method: "POST" });
        expect(u.json).toMatchObject({ name: A, status: "up", draining: false });
        expect(await mapClients(PORTS.https, clients)).toEqual(before);
        ws.close();
        await sleep(50);
    });

    test("drain/undrain carry the release and Node.js version the host runs; the page shows them", async () => {
        const url = `${ADMIN}/lb/peers/${B}`;
        const d = await request({ url: `${url}/drain?release=${RELEASE}&node=v22.12.0`, method: "POST" });
        expect(d.json).toEqual({
            name: B,
            host: "app-2",
            status: "up",
            draining: true,
            release: RELEASE,
            node: "v22.12.0",
        });
        const json = (await request<StatusPage>({ url: `${STATUS}?format=json` })).json.servers.server[1];
        expect(json).toMatchObject({ draining: true, release: RELEASE, node: "v22.12.0" });
        expect(Date.now() / 1000 - json.since!).toBeLessThan(5);
        const html = (await request({ url: STATUS })).body;
        expect(html).toContain(`<tr class="peer s-draining" data-name="${B}">`);
        expect(html).toContain(`<code title="${RELEASE}">${RELEASE.slice(0, 12)}</code>`);
        expect((await request({ url: `${STATUS}?format=prometheus` })).body).toContain(
            `meteor_do_lb_peer_info{upstream="meteor_app",name="${B}",host="app-2",release="${RELEASE}",node="v22.12.0"} 1`,
        );
        // A version without "v" is stored with it; what is not given stays as it was.
        const u = await request({ url: `${url}/undrain?node=22.13.1`, method: "POST" });
        expect(u.json).toMatchObject({ draining: false, release: RELEASE, node: "v22.13.1" });
        for (const bad of ["release=xyz", "release=abc", "node=22", "node=v22.1.x", "release=a&release=b"]) {
            const r = await request({ url: `${url}/drain?${bad}`, method: "POST" });
            expect([bad, r.status]).toEqual([bad, 400]);
        }
        expect((await peerStatus(PORTS.admin, B)).draining).toBe(false);
    });
});
