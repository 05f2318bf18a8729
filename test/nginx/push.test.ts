// components/host/lb-push.sh against a temp LB_ROOT: installs and reloads a good tree, refuses a bad
// one (nginx's own error, old config still serving, non-zero exit), keeps drain state over reloads.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { tarGzBase64 } from "../../components/archive";
import { renderNginx, LbView } from "../../nginx/render";
import { tempDir } from "../support/files";
import { hostTool } from "../support/hostTools";
import { request } from "../support/http";
import {
    Backend,
    loopbackView,
    NGINX,
    PeerList,
    PeerState,
    peerStatus,
    startBackend,
    StatusPage,
    stopAll,
} from "../support/nginx";
import { waitFor } from "../support/wait";

jest.setTimeout(60000);

const PORTS = { http: 19480, https: 19443, admin: 19481 };
const SCRIPT = hostTool("lb-push.sh");
let dir: string;
let lbRoot: string;
let confLink: string;
let backends: Backend[];
let view: LbView;

async function push(files: Record<string, string>, env: Record<string, string> = {}) {
    const input = await tarGzBase64(files);
    const r = spawnSync("bash", [SCRIPT], {
        input,
        encoding: "utf8",
        timeout: 30000,
        env: { ...process.env, LB_ROOT: lbRoot, LB_SERVICE: "direct", NGINX_CONF_LINK: confLink, LB_KEEP: "3", ...env },
    });
    return { code: r.status, stderr: r.stderr };
}

const current = () => fs.readlinkSync(path.join(lbRoot, "current"));
const releases = () =>
    fs
        .readdirSync(path.join(lbRoot, "releases"))
        .filter((n) => !n.startsWith("."))
        .sort();

beforeAll(async () => {
    dir = tempDir("push");
    lbRoot = path.join(dir, "lb");
    confLink = path.join(dir, "etc-nginx", "nginx.conf");
    fs.mkdirSync(path.dirname(confLink));
    fs.writeFileSync(confLink, "# Debian's default\n");
    backends = await Promise.all([
        startBackend("127.0.0.51", 19411),
        startBackend("127.0.0.52", 19412),
        startBackend("127.0.0.53", 19413),
    ]);
    view = loopbackView(
        dir,
        backends.slice(0, 2).map((b) => ({ ip: b.ip, port: b.port })),
        PORTS,
        {
            paths: { ...loopbackView(dir, [], PORTS).paths, prefix: path.join(lbRoot, "current") },
            // As in production; where the caller's hard limit is lower nginx only warns, and so must the trial.
            workerRlimitNofile: 65536,
        },
    );
});

afterAll(async () => {
    // lb-push.sh (LB_SERVICE=direct) started nginx as a daemon: stop it by the PID in its pid file.
    try {
        const pid = Number(fs.readFileSync(view.paths.pid, "utf8").trim());
        process.kill(pid, "SIGTERM");
        await waitFor(
            "nginx exit",
            async () => {
                try {
                    process.kill(pid, 0);
                    return false;
                } catch {
                    return true;
                }
            },
            10000,
        );
    } catch {
        /* not running */
    }
    await stopAll();
});

test("first push installs the tree, points nginx.conf at it once, and starts nginx", async () => {
    const r = await push(renderNginx(view));
    expect(r.stderr).toContain("lb-push: installed");
    expect(r.code).toBe(0);
    expect(releases()).toHaveLength(1);
    expect(current()).toBe(`releases/${releases()[0]}`);
    expect(fs.readlinkSync(confLink)).toBe(path.join(lbRoot, "current", "nginx.conf"));
    expect(fs.readFileSync(`${confLink}.debian`, "utf8")).toBe("# Debian's default\n");
    await waitFor(
        "serving",
        async () => (await request({ url: `https://127.0.0.1:${PORTS.https}/who` })).status === 200,
        10000,
    );
    // The trial nginx is gone: nothing listens but ours, and the tree has no trial paths in it.
    expect(fs.readFileSync(path.join(lbRoot, "current", "listen", "https.conf"), "utf8")).toContain(
        `127.0.0.1:${PORTS.https} ssl`,
    );
});

test("a changed tree is swapped in and reloaded; drain state survives the reload", async () => {
    const drained = await request<PeerState>({
        url: `http://127.0.0.1:${PORTS.admin}/lb/peers/${backends[0].name}/drain`,
        method: "POST",
    });
    expect(drained.json.draining).toBe(true);
    const before = current();
    const r = await push(renderNginx({ ...view, peers: backends.map((b) => ({ ip: b.ip, port: b.port })) }));
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`lb-push: nginx runs release ${current().replace("releases/", "")}`);
    expect(current()).not.toBe(before);
    const peers = await waitFor(
        "three peers",
        async () => {
            const p = (await request<PeerList>({ url: `http://127.0.0.1:${PORTS.admin}/lb/peers` })).json.peers;
            return p.length === 3 ? p : undefined;
        },
        10000,
    );
    expect(peers[0]).toMatchObject({ name: backends[0].name, status: "up", draining: true });
    const s = (await request<StatusPage>({ url: `http://127.0.0.1:${PORTS.admin}/check-status?format=json` })).json
        .servers;
    expect(s.generation).toBe(2);
    await request({ url: `http://127.0.0.1:${PORTS.admin}/lb/peers/${backends[0].name}/undrain`, method: "POST" });
    expect((await peerStatus(PORTS.admin, backends[0].name)).draining).toBe(false);
});

test("invalid Lua passes nginx -t but fails the trial start: refused, old config keeps serving", async () => {
    const files = renderNginx(view);
    files["lua/meteor_do/balancer.lua"] += "\nthis is not lua (\n";
    // nginx -t alone would accept it: that is why lb-push.sh also starts a trial copy.
    const t = path.join(dir, "nginx-t-only");
    for (const [rel, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(t, rel)), { recursive: true });
        fs.writeFileSync(path.join(t, rel), text.split(view.paths.prefix).join(t));
    }
    expect(spawnSync(NGINX, ["-t", "-q", "-c", path.join(t, "nginx.conf")]).status).toBe(0);

    const before = current();
    const kept = releases();
    const r = await push(files);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/balancer\.lua:\d+: .*near/);
    expect(r.stderr).toContain("trial start of the new config failed; nothing changed");
    expect(current()).toBe(before);
    expect(releases()).toEqual(kept);
    const ok = await request({ url: `https://127.0.0.1:${PORTS.https}/who` });
    expect(ok.status).toBe(200);
    expect((await request<PeerList>({ url: `http://127.0.0.1:${PORTS.admin}/lb/peers` })).json.peers).toHaveLength(3);
});

test("an invalid nginx directive is refused with nginx's own error", async () => {
    const files = renderNginx(view);
    files["http/basics.conf"] += "\nproxy_bogus_directive on;\n";
    const before = current();
    const r = await push(files);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/unknown directive "proxy_bogus_directive" in .*\/http\/basics\.conf:\d+/);
    expect(r.stderr).toContain("nginx -t refused the new config; nothing changed");
    expect(current()).toBe(before);
    expect((await request({ url: `https://127.0.0.1:${PORTS.https}/who` })).status).toBe(200);
});

test("a tree that passes the trial but that the running nginx cannot apply is rolled back", async () => {
    // Port 80 of this tree is a port a backend already holds: the trial binds spare ports and passes,
    // the reload cannot bind it, so nginx keeps the old config (and says so on GET /lb/config).
    const files = renderNginx(view);
    files["listen/http.conf"] = `listen ${backends[2].ip}:${backends[2].port};\n`;
    const before = current();
    const kept = releases();
    const r = await push(files, { LB_TRIAL_SECONDS: "3" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`nginx did not load the new config (it runs ${before.replace("releases/", "")})`);
    expect(r.stderr).toContain(`current points at ${before} again`);
    expect(current()).toBe(before);
    const config = (await request({ url: `http://127.0.0.1:${PORTS.admin}/lb/config` })).json;
    expect(config).toEqual({ release: before.replace("releases/", ""), generation: 2, peers: 3 });
    expect(releases().length).toBe(kept.length + 1);
    expect((await request({ url: `https://127.0.0.1:${PORTS.https}/who` })).status).toBe(200);
});

test("a CA certificate gets OCSP stapling with this host's own name servers as nginx's resolver", async () => {
    const resolv = path.join(dir, "resolv.conf");
    fs.writeFileSync(resolv, "# from the droplet\nsearch example\nnameserver 127.0.0.53\nnameserver 2001:db8::53\n");
    const r = await push(renderNginx({ ...view, tls: { ...view.tls, selfSigned: false } }), { RESOLV_CONF: resolv });
    expect(r.code).toBe(0);
    const installed = fs.readFileSync(path.join(lbRoot, "current", "tls", "resolver.conf"), "utf8");
    expect(installed.split("\n").filter((l) => l && !l.startsWith("#"))).toEqual([
        "resolver 127.0.0.53 [2001:db8::53] valid=300s;",
        "resolver_timeout 5s;",
    ]);
    expect(fs.readFileSync(path.join(lbRoot, "current", "tls", "policy.conf"), "utf8")).toContain(
        `ssl_stapling on;\nssl_stapling_verify on;\ninclude ${lbRoot}/current/tls/resolver.conf;\n`,
    );
    expect((await request({ url: `https://127.0.0.1:${PORTS.https}/who` })).status).toBe(200);
    // Back to the self-signed tree the other tests use: no stapling, the resolver file unused.
    expect((await push(renderNginx(view))).code).toBe(0);
});

test("a tree rendered for another install path is refused", async () => {
    const r = await push(renderNginx({ ...view, paths: { ...view.paths, prefix: "/somewhere/else" } }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`tree was rendered for /somewhere/else but is installed at ${lbRoot}/current`);
});

test("only the newest LB_KEEP trees are kept", async () => {
    for (let i = 0; i < 3; i++) {
        const r = await push(renderNginx({ ...view, healthCheck: { ...view.healthCheck, intervalMs: 300 + i } }));
        expect(r.code).toBe(0);
    }
    const kept = releases();
    expect(kept).toHaveLength(3);
    expect(current()).toBe(`releases/${kept[kept.length - 1]}`);
    expect(fs.readdirSync(path.join(lbRoot, "releases")).filter((n) => n.startsWith(".stage"))).toEqual([]);
});

test("a peer a push adds to a running LB starts down, and joins once the checker sees it healthy", async () => {
    // A scale-up: the new host's app runs only from its first cutover on, so the LB must not send it
    // traffic before (a fresh start, by contrast, begins with every peer up: the others keep serving).
    const added = { ip: "127.0.0.54", port: 19414 };
    const peers = [...backends.map((b) => ({ ip: b.ip, port: b.port })), added];
    const r = await push(renderNginx({ ...view, peers }));
    expect(r.code).toBe(0);
    const name = `${added.ip}:${added.port}`;
    expect(await peerStatus(PORTS.admin, name)).toMatchObject({ status: "down", draining: false });
    expect((await peerStatus(PORTS.admin, backends[0].name)).status).toBe("up");
    backends.push(await startBackend(added.ip, added.port));
    await waitFor("the added peer up", async () => (await peerStatus(PORTS.admin, name)).status === "up", 10000);
});
