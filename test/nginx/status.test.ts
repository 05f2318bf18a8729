// /check-status formats and filters, who may read it, and the admin API (drain/undrain, self-only rule).
import WebSocket from "ws";
import { tempDir } from "../support/files";
import { request } from "../support/http";
import {
    Backend,
    clientAddrs,
    loopbackView,
    mapClients,
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

beforeAll(async () => {
    dir = tempDir("status");
    backends = await Promise.all([
        startBackend("127.0.0.41", 19311),
        startBackend("127.0.0.42", 19312),
        startBackend("127.0.0.43", 19313),
    ]);
    await startLb(
        loopbackView(
            dir,
            backends.map((b) => ({ ip: b.ip, port: b.port })),
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
        expect(Object.keys(r.json)).toEqual(["servers"]);
        expect(Object.keys(s).sort()).toEqual(["generation", "server", "total"]);
        expect(s.total).toBe(3);
        expect(s.generation).toBe(1);
        expect(s.server.map((x) => [x.index, x.upstream, x.name, x.status, x.type, x.port])).toEqual([
            [0, "meteor_app", "127.0.0.41:19311", "up", "http", 0],
            [1, "meteor_app", "127.0.0.42:19312", "up", "http", 0],
            [2, "meteor_app", "127.0.0.43:19313", "down", "http", 0],
        ]);
        for (const x of s.server) {
            expect(Object.keys(x).sort()).toEqual([
                "fall",
                "index",
                "name",
                "port",
                "rise",
                "status",
                "type",
                "upstream",
            ]);
            expect(x.status === "up" ? x.rise : x.fall).toBeGreaterThanOrEqual(2);
            expect(x.status === "up" ? x.fall : x.rise).toBe(0);
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
        expect(lines).toContain("# TYPE meteor_do_lb_peer_up gauge");
        const filtered = await request({ url: `${STATUS}?format=prometheus&status=up` });
        expect(filtered.body).not.toContain("127.0.0.43:19313");
    });

    test("html is the default: a table with one row per peer", async () => {
        const r = await request({ url: STATUS });
        expect(r.headers["content-type"]).toBe("text/html; charset=utf-8");
        expect(r.body).toContain("Check upstream server number: 3, generation: 1");
        expect(r.body.match(/<tr class=/g)).toHaveLength(3);
        expect(r.body).toMatch(
            /<tr class="down"><td>2<\/td><td>meteor_app<\/td><td>127\.0\.0\.43:19313<\/td><td>down<\/td>/,
        );
        expect((await request({ url: `${STATUS}?format=xml` })).status).toBe(400);
    });

    test("a source outside loopback/VPC/adminCidrs is denied", async () => {
        // statusAllow here is 127.0.0.1/32 + 10.10.0.0/16: 127.0.0.9 stands for an outside address.
        const r = await request({ url: `${STATUS}?format=json`, localAddress: "127.0.0.9" });
        expect(r.status).toBe(403);
        expect(r.body).not.toContain("meteor_app");
        expect((await request({ url: `${STATUS}?format=json`, localAddress: "127.0.0.1" })).status).toBe(200);
    });
});

describe("admin API", () => {
    const A = "127.0.0.41:19311";
    const B = "127.0.0.42:19312";

    test("lists peers and answers 404 for an unknown one", async () => {
        const r = await request({ url: `${ADMIN}/lb/peers` });
        expect(r.json).toEqual({
            peers: [
                { name: A, status: "up", draining: false },
                { name: B, status: "up", draining: false },
                { name: "127.0.0.43:19313", status: "down", draining: false },
            ],
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
        expect(own.json).toEqual({ name: A, status: "up", draining: true });
        const self = await request({
            url: `${ADMIN}/lb/peers/${A}/undrain`,
            method: "POST",
            localAddress: "127.0.0.1",
        });
        expect(self.json).toEqual({ name: A, status: "up", draining: false });
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
        expect(d.json).toEqual({ name: A, status: "up", draining: true });
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
        expect(u.json).toEqual({ name: A, status: "up", draining: false });
        expect(await mapClients(PORTS.https, clients)).toEqual(before);
        ws.close();
        await sleep(50);
    });
});
