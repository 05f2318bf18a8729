// lbCount 2 and tlsMode letsencrypt: each LB runs its own certbot, but HTTP-01 reaches only the LB that
// holds the reserved IP. Two LBs on loopback (the production templates, each with the other as its
// acmePeer): pebble validates at the holder's port 80; the standby's certbot still gets its certificate,
// because the holder asks the standby for a token its own webroot lacks, once (no ping-pong).
import * as fs from "fs";
import * as path from "path";
import { tempDir } from "../support/files";
import { hostTool } from "../support/hostTools";
import { request } from "../support/http";
import { loopbackView, startBackend, startLb, stopAll } from "../support/nginx";
import { freePort } from "../support/ports";
import { stop } from "../support/processes";
import { waitFor } from "../support/wait";
import { certbotEnv, prepareLb, runTool } from "./lbSetup";
import { Pebble, startPebble } from "./pebble";

jest.setTimeout(120_000);

const domain = "app.meteor-do.test";
const script = hostTool("letsencrypt.sh");

interface Side {
    dir: string;
    httpPort: number;
    env: NodeJS.ProcessEnv;
    accessLog: () => string;
}
let pebble: Pebble;
let holder: Side;
let standby: Side;

/** One LB: its own tree, webroot, certificate dirs and certbot state; `peerHttpPort` is the other LB's port 80. */
async function side(name: string, httpPort: number, peerHttpPort: number, backendPort: number): Promise<Side> {
    const dir = tempDir(`le-standby-${name}`);
    const tlsDir = path.join(dir, "tls");
    const view = loopbackView(
        dir,
        [{ ip: "127.0.0.1", port: backendPort }],
        { http: httpPort, https: await freePort(), admin: await freePort() },
        {
            serverName: domain,
            tls: {
                certificate: path.join(tlsDir, "live/fullchain.pem"),
                privateKey: path.join(tlsDir, "live/privkey.pem"),
                selfSigned: true,
            },
            acmePeer: `127.0.0.1:${peerHttpPort}`,
        },
    );
    const env = certbotEnv(view, { tlsDir, leDir: path.join(dir, "le"), caBundle: pebble.apiCaBundle });
    await prepareLb(env, dir, domain, name);
    await startLb(view);
    const log = path.join(dir, "logs/access.log");
    return { dir, httpPort, env, accessLog: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8") : "") };
}

beforeAll(async () => {
    const [holderPort, standbyPort] = [await freePort(), await freePort()];
    const backend = await startBackend("127.0.0.1", await freePort());
    // pebble validates at the holder's port 80 only: the reserved IP points there.
    pebble = await startPebble(tempDir("le-standby-pebble"), holderPort);
    holder = await side("holder", holderPort, standbyPort, backend.port);
    standby = await side("standby", standbyPort, holderPort, backend.port);
});

afterAll(async () => {
    await Promise.all((pebble?.procs ?? []).map((p) => stop(p)));
    await stopAll();
});

const challengeLines = (log: string) => log.split("\n").filter((l) => l.includes("/.well-known/acme-challenge/"));

test("the standby's certbot gets its certificate through the holder, which asks the standby for the token", async () => {
    const r = await runTool(standby.env, "bash", [script, "issue", domain, "ops@meteor-do.test", pebble.directory]);
    expect([r.code, r.out]).toEqual([0, expect.stringContaining("nginx reloaded")]);
    const lineage = path.join(standby.dir, "le/config/live", domain, "cert.pem");
    expect(fs.existsSync(lineage)).toBe(true);
    // pebble asked the holder (200, passed to the standby's port), the standby answered from its webroot
    // (200, no upstream); as many times as pebble validated.
    const [viaHolder, atStandby] = [challengeLines(holder.accessLog()), challengeLines(standby.accessLog())];
    expect(viaHolder.length).toBeGreaterThanOrEqual(1);
    for (const l of viaHolder)
        expect(l).toMatch(new RegExp(`" 200 [0-9]+ [0-9.]+ "127\\.0\\.0\\.1:${standby.httpPort}" 200 `));
    expect(atStandby).toHaveLength(viaHolder.length);
    for (const l of atStandby) expect(l).toMatch(/" 200 [0-9]+ [0-9.]+ "-" - /);
});

test("the holder's own challenge is served from its webroot without asking the standby", async () => {
    const before = challengeLines(standby.accessLog()).length;
    const r = await runTool(holder.env, "bash", [script, "issue", domain, "ops@meteor-do.test", pebble.directory]);
    expect(r.code).toBe(0);
    expect(challengeLines(standby.accessLog())).toHaveLength(before);
});

test("a token neither LB holds: 404 after one hop, never passed back", async () => {
    const [h, s] = [challengeLines(holder.accessLog()).length, challengeLines(standby.accessLog()).length];
    const res = await request({
        url: `http://127.0.0.1:${holder.httpPort}/.well-known/acme-challenge/none`,
        timeoutMs: 5000,
    });
    expect(res.status).toBe(404);
    // nginx logs a request after answering it: wait (bounded) for both lines, then check there are no more.
    const counts = () => [
        challengeLines(holder.accessLog()).length - h,
        challengeLines(standby.accessLog()).length - s,
    ];
    await waitFor("both LBs logged the request", async () => counts()[0] >= 1 && counts()[1] >= 1, 5000);
    await new Promise((r) => setTimeout(r, 300));
    expect(counts()).toEqual([1, 1]);
    // Anything else on port 80 still redirects; the fallback is for challenges only.
    const other = await request({ url: `http://127.0.0.1:${holder.httpPort}/x`, timeoutMs: 5000 });
    expect(other.status).toBe(301);
});
