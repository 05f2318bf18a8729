// The sample bundle: built once by sample-app/build.js, run with node on 127.0.0.1, spoken to by real
// DDP clients from npm (simpleddp over /websocket, sockjs-client in xhr-polling mode over /sockjs).
import { ChildProcess, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import SimpleDDP from "simpleddp";
import SockJS from "sockjs-client";
import WebSocket from "ws";
import { request } from "../support/http";
import { freePort } from "../support/ports";
import { exitOf, killPid } from "../support/processes";
import { buildBundle, Bundle, outputOf, startApp, unpack } from "../support/sampleApp";
import { waitFor } from "../support/wait";

jest.setTimeout(60_000);

let tmp: string;
let bundle: Bundle;
let app: ChildProcess;
let port: number;
const started: ChildProcess[] = [];
const SETTINGS = JSON.stringify({ public: { releaseLabel: "from-settings" }, private: { token: "s3cret" } });

async function launch(dir: string, env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
    const p = await freePort();
    const child = startApp(dir, { PORT: String(p), ...env });
    started.push(child);
    return { child, port: p };
}

async function ready(p: number, child: ChildProcess): Promise<void> {
    await waitFor(
        "the sample app to answer",
        async () => {
            if (child.exitCode !== null) throw new Error(`app exited: ${outputOf(child)}`);
            return (await request({ url: `http://127.0.0.1:${p}/`, timeoutMs: 500 })).status === 200;
        },
        10_000,
    );
}

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-sample-"));
    bundle = buildBundle(path.join(tmp, "sample.tgz"), "T1");
    unpack(bundle.path, path.join(tmp, "app"));
    ({ child: app, port } = await launch(path.join(tmp, "app"), {
        ROOT_URL: "https://app.example.test",
        HTTP_FORWARDED_COUNT: "2",
        METEOR_SETTINGS: SETTINGS,
    }));
    await ready(port, app);
});

afterAll(() => {
    for (const c of started) killPid(c.pid);
    fs.rmSync(tmp, { recursive: true, force: true });
});

describe("bundle", () => {
    test("has the layout of `meteor build --server-only` with the server deps installed", () => {
        const entries = execFileSync("tar", ["-tzf", bundle.path], { encoding: "utf8" }).trim().split("\n");
        for (const f of [
            "bundle/main.js",
            "bundle/programs/server/package.json",
            "bundle/programs/server/node_modules/sockjs/package.json",
        ]) {
            expect(entries).toContain(f);
        }
        // Sorted the way tar --sort=name walks: by name within each directory, a directory before its contents.
        const parts = (e: string) => e.replace(/\/$/, "").split("/");
        const byTree = (a: string, b: string) => {
            const [x, y] = [parts(a), parts(b)];
            for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
            return x.length - y.length;
        };
        expect(entries).toEqual([...entries].sort(byTree));
        const verbose = execFileSync("tar", ["--full-time", "-tvzf", bundle.path], { encoding: "utf8" })
            .trim()
            .split("\n");
        expect(verbose.every((l) => l.includes(" 0/0 ") && l.includes("1970-01-01 00:00:00"))).toBe(true);
        const gz = fs.readFileSync(bundle.path);
        expect(gz.readUInt32LE(4)).toBe(0); // gzip -n: no time stamp in the header
    });

    test("is deterministic: the same source gives the same sha256, another label another one", () => {
        expect(buildBundle(path.join(tmp, "again.tgz"), "T1").sha256).toBe(bundle.sha256);
        expect(buildBundle(path.join(tmp, "other.tgz"), "T2").sha256).not.toBe(bundle.sha256);
    });
});

describe("HTTP", () => {
    test("/ shows host, release, label from METEOR_SETTINGS and the client address per HTTP_FORWARDED_COUNT", async () => {
        const r = await request({
            url: `http://127.0.0.1:${port}/`,
            headers: { "X-Forwarded-For": "203.0.113.9, 198.51.100.7, 10.0.0.2" },
        });
        expect(r.status).toBe(200);
        expect(r.body).toContain(`<dd id="host">${os.hostname()}</dd>`);
        expect(r.body).toContain('<dd id="release">T1</dd>');
        expect(r.body).toContain('<dd id="label">from-settings</dd>');
        expect(r.body).toContain('<dd id="root-url">https://app.example.test</dd>');
        // Count 2: the second address from the right (the one the trusted proxy saw).
        expect(r.body).toContain('<dd id="client-ip">198.51.100.7</dd>');
        expect(r.body).not.toContain("s3cret");
        const short = await request({
            url: `http://127.0.0.1:${port}/info.json`,
            headers: { "X-Forwarded-For": "203.0.113.9" },
        });
        expect(JSON.parse(short.body)).toMatchObject({ release: "T1", label: "from-settings", clientIp: null });
        expect((await request({ url: `http://127.0.0.1:${port}/nope` })).status).toBe(404);
    });
});

describe("DDP", () => {
    test("simpleddp over /websocket: connect, subscribe (documents arrive), call the method", async () => {
        const ddp = new SimpleDDP({
            endpoint: `ws://127.0.0.1:${port}/websocket`,
            SocketConstructor: WebSocket,
            reconnectInterval: 60_000,
        });
        try {
            await ddp.connect();
            const sub = ddp.subscribe("sample.items");
            await sub.ready();
            const items = ddp
                .collection<{ id: string; n: number; title: string }>("items")
                .fetch()
                .map((d) => [d.id, d.n, d.title]);
            expect(items.sort()).toEqual([
                ["a", 1, "first"],
                ["b", 2, "second"],
                ["c", 3, "third"],
            ]);
            const who = await ddp.call("sample.whoami");
            expect(who).toMatchObject({ host: os.hostname(), release: "T1", label: "from-settings", pid: app.pid });
            await expect(ddp.call("no.such.method")).rejects.toMatchObject({ error: 404 });
        } finally {
            await ddp.disconnect();
        }
    });

    test("sockjs-client in xhr-polling mode: connected, pong, added + ready, result", async () => {
        const sock = new SockJS(`http://127.0.0.1:${port}/sockjs`, null, { transports: ["xhr-polling"] });
        const got: Record<string, unknown>[] = [];
        try {
            await new Promise<void>((resolve, reject) => {
                sock.onopen = () => resolve();
                sock.onclose = (e: { reason: string }) => reject(new Error(`closed: ${e.reason}`));
            });
            expect(sock.transport).toBe("xhr-polling");
            sock.onmessage = (e: { data: string }) => got.push(JSON.parse(e.data));
            const until = (pred: (m: Record<string, unknown>) => boolean, what: string) =>
                waitFor(what, async () => got.find(pred), 10_000);
            sock.send(JSON.stringify({ msg: "connect", version: "1", support: ["1"] }));
            expect(await until((m) => m.msg === "connected", "connected")).toMatchObject({
                session: expect.any(String),
            });
            sock.send(JSON.stringify({ msg: "ping", id: "p1" }));
            await until((m) => m.msg === "pong" && m.id === "p1", "pong");
            sock.send(JSON.stringify({ msg: "sub", id: "s1", name: "sample.server", params: [] }));
            await until((m) => m.msg === "ready", "ready");
            expect(got.filter((m) => m.msg === "added")).toEqual([
                {
                    msg: "added",
                    collection: "server",
                    id: "self",
                    fields: { host: os.hostname(), release: "T1", label: "from-settings" },
                },
            ]);
            sock.send(JSON.stringify({ msg: "method", id: "m1", method: "sample.whoami", params: [] }));
            const result = await until((m) => m.msg === "result" && m.id === "m1", "result");
            expect(result.result).toMatchObject({ release: "T1", host: os.hostname() });
        } finally {
            sock.close();
        }
    });
});

describe("lifecycle", () => {
    test("SIGTERM: stops accepting, closes DDP connections one by one over the grace period, exits 0", async () => {
        const graceMs = 2000;
        const { child, port: p } = await launch(path.join(tmp, "app"), { STOP_GRACE_SECONDS: String(graceMs / 1000) });
        await ready(p, child);
        const closedAt: number[] = [];
        const sockets = await Promise.all(
            [0, 1, 2, 3].map(
                () =>
                    new Promise<WebSocket>((resolve, reject) => {
                        const ws = new WebSocket(`ws://127.0.0.1:${p}/websocket`);
                        ws.on("message", (data) => {
                            if (JSON.parse(String(data)).msg === "connected") resolve(ws);
                        });
                        ws.on("open", () => ws.send(JSON.stringify({ msg: "connect", version: "1", support: ["1"] })));
                        ws.on("close", () => closedAt.push(Date.now()));
                        ws.on("error", reject);
                    }),
            ),
        );
        const t0 = Date.now();
        child.kill("SIGTERM");
        await waitFor(
            "refused",
            async () =>
                request({ url: `http://127.0.0.1:${p}/`, timeoutMs: 300 }).then(
                    () => false,
                    () => true,
                ),
            1000,
        );
        const exit = await exitOf(child, graceMs + 3000);
        expect(exit).toEqual({ code: 0, signal: null });
        expect(closedAt).toHaveLength(4);
        const offsets = closedAt.map((t) => t - t0).sort((a, b) => a - b);
        expect(offsets[0]).toBeLessThan(graceMs * 0.3);
        expect(offsets[3] - offsets[0]).toBeGreaterThanOrEqual(graceMs * 0.5); // spread, not all at once
        expect(offsets[3]).toBeLessThanOrEqual(graceMs + 500);
        for (const ws of sockets) ws.terminate();
    });

    test("a --broken build exits at start; invalid METEOR_SETTINGS exit without echoing them", async () => {
        const broken = buildBundle(path.join(tmp, "broken.tgz"), "T1", "exit");
        expect(broken.sha256).not.toBe(bundle.sha256);
        unpack(broken.path, path.join(tmp, "broken"));
        const b = await launch(path.join(tmp, "broken"), {});
        expect(await exitOf(b.child, 10_000)).toEqual({ code: 1, signal: null });
        expect(outputOf(b.child)).toContain("broken on purpose");
        const bad = await launch(path.join(tmp, "app"), { METEOR_SETTINGS: '{"token": "s3cret"' });
        expect(await exitOf(bad.child, 10_000)).toEqual({ code: 1, signal: null });
        expect(outputOf(bad.child)).toContain("METEOR_SETTINGS are not valid JSON");
        expect(outputOf(bad.child)).not.toContain("s3cret");
    });
});
