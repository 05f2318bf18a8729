// Load generator and DDP clients, run inside the client namespace (run.ts starts it under
// `ip netns exec`). Each virtual visitor has its own source address.
//   node -r ts-node/register/transpile-only test/e2e/load.ts '<json options>'
// Prints "ready" once every DDP client has its subscriptions ready; on "stop" (stdin) or SIGTERM it
// stops and prints one JSON summary line.
// The DDP client is a few lines over `ws` rather than a library client because the scenario needs a
// source address per client and exact counts of reconnects and resubscriptions.
import * as https from "https";
import WebSocket from "ws";

interface Options {
    host: string;
    addresses: string[];
    intervalMs: number;
    ddpAddresses: string[];
    path: string;
    /**
     * A DDP ping this often, and a close when its pong does not come within as long: Meteor's client
     * heartbeat (17.5 s and 15 s there), so a client notices a connection through a dead LB. Unset: none.
     */
    pingMs?: number;
}
const opts: Options = { path: "/info.json", intervalMs: 100, ...JSON.parse(process.argv[2]) };

let stopping = false;
const stats = {
    requests: 0,
    failed: 0,
    /** GETs sent again on a new connection after the LB closed the reused one first (see get()). */
    retried: 0,
    failures: [] as string[],
    /** When each failed request was sent (ms since the epoch), to place failures in time. */
    failedSentAt: [] as number[],
    hostsByAddress: {} as Record<string, Record<string, number>>,
};

function fail(what: string, sentAt: number): void {
    stats.failed++;
    if (stats.failures.length < 20) stats.failures.push(`${new Date().toISOString()} ${what}`);
    if (stats.failedSentAt.length < 5000) stats.failedSentAt.push(sentAt);
}

function get(agent: https.Agent, address: string, retry = true): Promise<void> {
    const sentAt = Date.now();
    return new Promise((resolve) => {
        const req = https.request(
            {
                host: opts.host,
                port: 443,
                path: opts.path,
                method: "GET",
                agent,
                localAddress: address,
                rejectUnauthorized: false,
                timeout: 10000,
                headers: { "User-Agent": "meteor-do-e2e" },
            },
            (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (d) => (body += d));
                res.on("end", () => {
                    stats.requests++;
                    if (res.statusCode !== 200) fail(`${address} HTTP ${res.statusCode}`, sentAt);
                    else {
                        try {
                            const host = JSON.parse(body).host ?? "?";
                            const m = (stats.hostsByAddress[address] ??= {});
                            m[host] = (m[host] ?? 0) + 1;
                        } catch {
                            fail(`${address} bad body`, sentAt);
                        }
                    }
                    resolve();
                });
                res.on("error", (e) => {
                    stats.requests++;
                    fail(`${address} ${e.message}`, sentAt);
                    resolve();
                });
            },
        );
        req.on("timeout", () => req.destroy(new Error("timeout")));
        req.on("error", (e: NodeJS.ErrnoException) => {
            // A keep-alive connection the server closed as the request went out (nginx closes idle ones
            // when it reloads): browsers send such a GET again on a new connection (RFC 9112 9.3.1), and
            // Node's docs advise the same (req.reusedSocket). Counted, once per request.
            if (retry && req.reusedSocket && e.code === "ECONNRESET") {
                stats.retried++;
                resolve(get(agent, address, false));
                return;
            }
            stats.requests++;
            fail(`${address} ${e.message}`, sentAt);
            resolve();
        });
        req.end();
    });
}

async function visitor(address: string): Promise<void> {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    while (!stopping) {
        const t = Date.now();
        await get(agent, address);
        await new Promise((r) => setTimeout(r, Math.max(0, opts.intervalMs - (Date.now() - t))));
    }
    agent.destroy();
}

export interface DdpStat {
    address: string;
    connects: number;
    readies: number;
    resubscribed: number;
    hosts: string[];
    errors: number;
}

function ddpClient(address: string, onFirstReady: () => void): { stat: DdpStat; close: () => void } {
    const stat: DdpStat = { address, connects: 0, readies: 0, resubscribed: 0, hosts: [], errors: 0 };
    let ws: WebSocket | undefined;
    let firstReady = false;
    let attempts = 0;
    const connect = () => {
        if (stopping) return;
        const sock = new WebSocket(`wss://${opts.host}/websocket`, {
            localAddress: address,
            rejectUnauthorized: false,
        });
        ws = sock;
        let heartbeat: NodeJS.Timeout | undefined;
        let awaitingPong = false;
        sock.on("open", () => {
            sock.send(JSON.stringify({ msg: "connect", version: "1", support: ["1"] }));
            if (opts.pingMs)
                heartbeat = setInterval(() => {
                    if (awaitingPong) return sock.terminate();
                    awaitingPong = true;
                    sock.send(JSON.stringify({ msg: "ping" }));
                }, opts.pingMs);
        });
        sock.on("message", (raw) => {
            const msg = JSON.parse(String(raw));
            if (msg.msg === "pong") {
                awaitingPong = false;
            } else if (msg.msg === "connected") {
                stat.connects++;
                attempts = 0;
                sock.send(JSON.stringify({ msg: "sub", id: "items", name: "sample.items", params: [] }));
                sock.send(JSON.stringify({ msg: "sub", id: "server", name: "sample.server", params: [] }));
            } else if (msg.msg === "ping") {
                sock.send(JSON.stringify({ msg: "pong", id: msg.id }));
            } else if (msg.msg === "added" && msg.collection === "server") {
                stat.hosts.push(msg.fields.host);
            } else if (msg.msg === "ready" && msg.subs.includes("server")) {
                stat.readies++;
                if (stat.connects > 1) stat.resubscribed++;
                if (!firstReady) {
                    firstReady = true;
                    onFirstReady();
                }
            }
        });
        sock.on("error", () => {
            stat.errors++;
        });
        sock.on("close", () => {
            clearInterval(heartbeat);
            // Meteor's client reconnects with a short back-off; bounded here.
            if (!stopping && attempts++ < 50) setTimeout(connect, 200 + Math.random() * 300);
        });
    };
    connect();
    return { stat, close: () => ws?.close() };
}

async function main(): Promise<void> {
    let pendingReady = opts.ddpAddresses.length;
    const ready = () => {
        if (--pendingReady === 0) process.stdout.write("ready\n");
    };
    if (pendingReady === 0) process.stdout.write("ready\n");
    const ddp = opts.ddpAddresses.map((a) => ddpClient(a, ready));
    const loops = opts.addresses.map(visitor);
    await new Promise<void>((resolve) => {
        process.on("SIGTERM", resolve);
        process.stdin.on("data", (d) => {
            if (String(d).includes("stop")) resolve();
        });
        process.stdin.on("end", resolve);
    });
    stopping = true;
    for (const c of ddp) c.close();
    await Promise.all(loops);
    process.stdout.write(JSON.stringify({ ...stats, ddp: ddp.map((c) => c.stat) }) + "\n");
    process.exit(0);
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
