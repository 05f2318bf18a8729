// conn-lib.sh's close_spread, which cutover.sh and retire.sh run on an app host before SIGTERM and
// lb-peer.sh on the LB before a resize: a host's established client connections are closed in even
// batches (ranges of their ports) across the window (one batch per 0.2 s, never slower than 50 a second),
// only the ones its filter names. Counted per batch from what `ss -K` closed, and from the clients' side; no timings.
import * as net from "net";
import { hostTool } from "../support/hostTools";
import { freePort } from "../support/ports";
import { run } from "../support/processes";
import { waitFor } from "../support/wait";

jest.setTimeout(60_000);

const HOST = "127.0.0.96";
const OTHER = "127.0.0.97";
const servers: net.Server[] = [];
const sockets: net.Socket[] = [];

afterAll(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listen(ip: string, port: number): Promise<void> {
    const server = net.createServer((c) => {
        sockets.push(c);
        c.on("error", () => {});
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(port, ip, resolve));
}

/** n clients of ip:port; each knows whether the server side went away. */
async function clients(ip: string, port: number, n: number): Promise<{ closed: boolean }[]> {
    return Promise.all(
        Array.from(
            { length: n },
            () =>
                new Promise<{ closed: boolean }>((resolve, reject) => {
                    const state = { closed: false };
                    const c = net.connect(port, ip, () => resolve(state));
                    sockets.push(c);
                    c.on("error", () => {});
                    c.on("close", () => (state.closed = true));
                    c.once("error", reject);
                }),
        ),
    );
}

/** Runs close_spread GRACE remote src IP "sport = :PORT"; its results as numbers and the sizes text. */
async function closeSpread(grace: number, ip: string, port: number) {
    const r = await run(
        "bash",
        [
            "-c",
            'set -euo pipefail; . "$0"; close_spread "$1" remote src "$2" "sport = :$3"; echo "$spread_closed $spread_batches $spread_sizes"',
            hostTool("conn-lib.sh"),
            String(grace),
            ip,
            String(port),
        ],
        { timeoutMs: 30_000 },
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [closed, batches, sizes] = r.stdout.trim().split(" ");
    return { closed: Number(closed), batches: Number(batches), sizes };
}

test("closes a host's connections in even batches across the window, and only that host's", async () => {
    const port = await freePort();
    await listen(HOST, port);
    await listen(OTHER, port);
    const mine = await clients(HOST, port, 120);
    const others = await clients(OTHER, port, 10);
    // 120 connections at 2 s: 2 s / 0.2 s + 1 = 11 batches of 10-11 (120 at 50/s would take 2.4 s: the
    // window is 2 s).
    expect(await closeSpread(2, HOST, port)).toEqual({ closed: 120, batches: 11, sizes: "10-11" });
    await waitFor("the clients saw their connections go", async () => mine.every((c) => c.closed), 5000);
    expect(others.filter((c) => c.closed)).toHaveLength(0);
});

test("a few connections go in one batch, not over the whole grace period; none is nothing to do", async () => {
    const port = await freePort();
    await listen(HOST, port);
    const few = await clients(HOST, port, 5);
    // 5 at 50/s: 0.1 s, one batch, although the grace period is 20 s.
    expect(await closeSpread(20, HOST, port)).toEqual({ closed: 5, batches: 1, sizes: "5-5" });
    await waitFor("the clients saw their connections go", async () => few.every((c) => c.closed), 5000);
    expect(await closeSpread(20, HOST, port)).toEqual({ closed: 0, batches: 0, sizes: "0-0" });
});
