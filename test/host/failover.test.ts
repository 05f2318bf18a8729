// lbCount 2 on the host: lb-takeover.sh against a DigitalOcean reserved-IP API stand-in on loopback (skip
// when already assigned, assign and poll to completed, retry on 5xx, give up in bounded time, stop on 401,
// the token never on a command line or in its output); lb-role.sh (the tracked script and the role file);
// failover.sh (the token file, the tunnel and keepalived configs, checked by `keepalived -t` when installed).
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { execFileSync } from "child_process";
import { AddressInfo } from "net";
import { hostTool } from "../support/hostTools";
import { tempDir } from "../support/files";
import { run, RunResult } from "../support/processes";

jest.setTimeout(60_000);

const TOKEN = "dop_v1_feedfacecafebeef0123456789";
const RESERVED = "198.51.100.10";
const SELF = 4242;

interface Api {
    url: string;
    /** Who holds the reserved IP (null: nobody). */
    holder: number | null;
    /** Answers 503 to this many requests before behaving. */
    failures: number;
    /** An action completes after this many status polls. */
    pollsToComplete: number;
    requests: { method: string; path: string; auth?: string; body: string }[];
}
let api: Api;
let server: http.Server;

beforeAll(async () => {
    server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            api.requests.push({ method: req.method!, path: req.url!, auth: req.headers.authorization, body });
            const send = (code: number, value: unknown) => {
                res.writeHead(code, { "Content-Type": "application/json" });
                res.end(JSON.stringify(value));
            };
            if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { id: "unauthorized" });
            if (api.failures > 0) {
                api.failures -= 1;
                return send(503, { id: "service_unavailable" });
            }
            const base = `/v2/reserved_ips/${RESERVED}`;
            if (req.method === "GET" && req.url === base)
                return send(200, {
                    reserved_ip: { ip: RESERVED, droplet: api.holder === null ? null : { id: api.holder } },
                });
            if (req.method === "POST" && req.url === `${base}/actions`) {
                const { type, droplet_id } = JSON.parse(body);
                if (type !== "assign") return send(422, { id: "unprocessable_entity" });
                pending = { id: 77, droplet: droplet_id, polls: 0 };
                return send(201, { action: { id: 77, status: "in-progress" } });
            }
            if (req.method === "GET" && req.url === `${base}/actions/77` && pending) {
                pending.polls += 1;
                const done = pending.polls >= api.pollsToComplete;
                if (done) api.holder = pending.droplet;
                return send(200, { action: { id: 77, status: done ? "completed" : "in-progress" } });
            }
            send(404, { id: "not_found" });
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
let pending: { id: number; droplet: number; polls: number } | undefined;

/** A failover dir as failover.sh writes it, and a curl on PATH that records its argv before running the real one. */
function setup(token = TOKEN): { env: NodeJS.ProcessEnv; argvLog: string } {
    const dir = tempDir("failover");
    const port = (server.address() as AddressInfo).port;
    fs.writeFileSync(
        path.join(dir, "failover.env"),
        `FAILOVER_API=http://127.0.0.1:${port}\nFAILOVER_RESERVED_IP=${RESERVED}\nFAILOVER_DROPLET_ID=${SELF}\n`,
    );
    fs.writeFileSync(path.join(dir, "token"), `${token}\n`, { mode: 0o600 });
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    const argvLog = path.join(dir, "curl-argv.log");
    const realCurl = execFileSync("bash", ["-c", "command -v curl"]).toString().trim();
    fs.writeFileSync(path.join(bin, "curl"), `#!/bin/sh\nprintf '%s\\n' "$*" >>'${argvLog}'\nexec ${realCurl} "$@"\n`, {
        mode: 0o755,
    });
    return { env: { ...process.env, FAILOVER_DIR: dir, PATH: `${bin}:${process.env.PATH}` }, argvLog };
}

async function takeover(timeoutS = 20, token = TOKEN): Promise<RunResult & { argv: string }> {
    const { env, argvLog } = setup(token);
    const r = await run("bash", [hostTool("lb-takeover.sh")], {
        env: { ...env, TAKEOVER_TIMEOUT: String(timeoutS) },
        timeoutMs: 40_000,
    });
    const argv = fs.existsSync(argvLog) ? fs.readFileSync(argvLog, "utf8") : "";
    // Never on curl's command line (ps shows it), never in what the script prints (the journal keeps it).
    expect(`${r.stdout}${r.stderr}${argv}`).not.toContain(TOKEN);
    return { ...r, argv };
}

beforeEach(() => {
    api = { url: "", holder: null, failures: 0, pollsToComplete: 3, requests: [] };
    pending = undefined;
});

describe("lb-takeover.sh", () => {
    test("already on this droplet: one GET, no assign", async () => {
        api.holder = SELF;
        const r = await takeover();
        expect([r.code, r.stderr]).toEqual([
            0,
            `lb-takeover: reserved IP ${RESERVED} is on droplet ${SELF} (this LB) already\n`,
        ]);
        expect(api.requests.map((q) => q.method)).toEqual(["GET"]);
    });

    test("on the other droplet: assigns with the bearer token and polls the action until completed", async () => {
        api.holder = 1111;
        const r = await takeover();
        expect(r.code).toBe(0);
        expect(api.holder).toBe(SELF);
        expect(api.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
            `GET /v2/reserved_ips/${RESERVED}`,
            `POST /v2/reserved_ips/${RESERVED}/actions`,
            ...Array(3).fill(`GET /v2/reserved_ips/${RESERVED}/actions/77`),
        ]);
        expect(JSON.parse(api.requests[1].body)).toEqual({ type: "assign", droplet_id: SELF });
        expect(new Set(api.requests.map((q) => q.auth))).toEqual(new Set([`Bearer ${TOKEN}`]));
        expect(r.stderr).toMatch(new RegExp(`is on droplet ${SELF} \\(this LB\\) after [0-9]+s\\n$`));
    });

    test("5xx answers are tried again until the assign goes through", async () => {
        api.failures = 3;
        const r = await takeover();
        expect(r.code).toBe(0);
        expect(api.holder).toBe(SELF);
        expect(r.stderr.match(/HTTP 503; trying again/g)).toHaveLength(3);
    });

    test("an API that never recovers: gives up after TAKEOVER_TIMEOUT, exit 1", async () => {
        api.failures = 1_000_000;
        const r = await takeover(2);
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`error: reserved IP ${RESERVED} not assigned to droplet ${SELF} within 2s`);
        // Bounded: the timeout plus one back-off and one request.
        expect(r.ms).toBeLessThan(10_000);
        expect(api.holder).toBeNull();
    });

    test("a wrong token: 401 stops at once, naming the scopes", async () => {
        const r = await takeover(20, "dop_v1_wrongwrongwrongwrong");
        expect(r.code).toBe(1);
        expect(r.stderr).toContain("the API refused the token (HTTP 401)");
        expect(r.stderr).not.toContain("wrongwrong");
        expect(api.requests).toHaveLength(1);
    });
});

describe("lb-role.sh", () => {
    const role = (dir: string, admin: string, ...args: string[]) =>
        run("bash", [hostTool("lb-role.sh"), ...args], {
            env: {
                ...process.env,
                LB_ROLE_FILE: path.join(dir, "run", "lb-role"),
                LB_STEP_DOWN_FILE: path.join(dir, "step-down"),
                LB_ROLE_ADMIN: admin,
                LB_TAKEOVER_CMD: path.join(dir, "takeover"),
                LB_TAKEOVER_TRIES: "2",
                LB_ROLE_STDERR: "1",
            },
        });

    test("check: passes while nginx answers and no step-down file exists", async () => {
        const dir = tempDir("lb-role");
        const admin = http.createServer((_req, res) => res.end("{}"));
        await new Promise<void>((resolve) => admin.listen(0, "127.0.0.1", resolve));
        const url = `http://127.0.0.1:${(admin.address() as AddressInfo).port}`;
        try {
            expect((await role(dir, url, "check")).code).toBe(0);
            fs.writeFileSync(path.join(dir, "step-down"), "");
            expect((await role(dir, url, "check")).code).toBe(1);
        } finally {
            await new Promise((resolve) => admin.close(resolve));
        }
        fs.rmSync(path.join(dir, "step-down"));
        // nginx gone: the port refuses.
        expect((await role(dir, url, "check")).code).not.toBe(0);
    });

    test("transitions record the role (world-readable); active runs the takeover, retrying while still active", async () => {
        const dir = tempDir("lb-role");
        const calls = path.join(dir, "calls");
        fs.writeFileSync(path.join(dir, "takeover"), `#!/bin/sh\necho x >>'${calls}'\nexit 1\n`, { mode: 0o755 });
        expect((await role(dir, "http://127.0.0.1:9", "show")).stdout).toBe("none\n");
        const r = await role(dir, "http://127.0.0.1:9", "active");
        expect(r.code).toBe(1);
        expect(fs.readFileSync(calls, "utf8")).toBe("x\nx\n");
        expect(r.stderr).toContain("the takeover failed 2 times");
        // Not assigned: "takeover" (ops failover waits for "active"); once the takeover succeeds, "active".
        expect((await role(dir, "http://127.0.0.1:9", "show")).stdout).toBe("takeover\n");
        fs.writeFileSync(path.join(dir, "takeover"), `#!/bin/sh\necho x >>'${calls}'\n`, { mode: 0o755 });
        expect((await role(dir, "http://127.0.0.1:9", "active")).code).toBe(0);
        expect((await role(dir, "http://127.0.0.1:9", "show")).stdout).toBe("active\n");
        expect((await role(dir, "http://127.0.0.1:9", "fault")).code).toBe(0);
        expect(fs.readFileSync(path.join(dir, "run", "lb-role"), "utf8")).toBe("fault\n");
        expect(fs.statSync(path.join(dir, "run", "lb-role")).mode & 0o777).toBe(0o644);
    });
});

test("lb-role.sh step-down makes the check fail until step-up", async () => {
    const dir = tempDir("lb-role");
    const env = {
        ...process.env,
        LB_STEP_DOWN_FILE: path.join(dir, "run", "step-down"),
        LB_ROLE_ADMIN: "http://127.0.0.1:9",
    };
    expect((await run("bash", [hostTool("lb-role.sh"), "step-down"], { env })).code).toBe(0);
    expect(fs.existsSync(path.join(dir, "run", "step-down"))).toBe(true);
    expect((await run("bash", [hostTool("lb-role.sh"), "check"], { env })).code).toBe(1);
    expect((await run("bash", [hostTool("lb-role.sh"), "step-up"], { env })).code).toBe(0);
    expect(fs.existsSync(path.join(dir, "run", "step-down"))).toBe(false);
});

describe("failover.sh", () => {
    const failover = (root: string, args: string[], stdin = "") =>
        run("bash", [hostTool("failover.sh"), ...args], {
            env: { ...process.env, FAILOVER_ROOT: root, FAILOVER_SERVICES: "none" },
            stdin,
        });

    test("token: root-only file from stdin, never echoed; a malformed one is refused without showing it", async () => {
        const root = tempDir("failover-root");
        const r = await failover(root, ["token"], `${TOKEN}\n`);
        expect(r.code).toBe(0);
        expect(`${r.stdout}${r.stderr}`).not.toContain(TOKEN);
        const file = path.join(root, "etc/meteor-do/failover/token");
        expect(fs.readFileSync(file, "utf8")).toBe(`${TOKEN}\n`);
        expect(fs.statSync(file).mode & 0o777).toBe(0o600);
        const bad = await failover(root, ["token"], "not a token; rm -rf /\n");
        expect(bad.code).toBe(1);
        expect(bad.stderr).toContain("its value is not shown");
        expect(bad.stderr).not.toContain("rm -rf");
    });

    const configure = (root: string, index: string, generation = "1".repeat(64)) =>
        failover(root, [
            "configure",
            "--index",
            index,
            "--self-private",
            index === "0" ? "10.116.0.2" : "10.116.0.3",
            "--peer-private",
            index === "0" ? "10.116.0.3" : "10.116.0.2",
            "--peer-key",
            "A".repeat(43) + "=",
            "--reserved-ip",
            RESERVED,
            "--droplet-id",
            "1234",
            "--api",
            "https://api.digitalocean.com",
            "--generation",
            generation,
        ]);

    test("configure: the tunnel to the other LB and keepalived inside it, keepalived -t clean", async () => {
        const root = tempDir("failover-root");
        fs.mkdirSync(path.join(root, "etc/wireguard"), { recursive: true });
        fs.writeFileSync(path.join(root, "etc/wireguard/meteor-do.key"), "B".repeat(43) + "=\n", { mode: 0o600 });
        const r = await configure(root, "1");
        expect([r.code, r.stderr]).toEqual([0, ""]);
        const wg = fs.readFileSync(path.join(root, "etc/wireguard/wg0.conf"), "utf8");
        expect(wg).toContain("Address = 169.254.77.2/30\nListenPort = 51820\nPrivateKey = " + "B".repeat(43) + "=");
        expect(wg).toContain(`AllowedIPs = 169.254.77.1/32\nEndpoint = 10.116.0.2:51820`);
        expect(fs.statSync(path.join(root, "etc/wireguard/wg0.conf")).mode & 0o777).toBe(0o600);
        const conf = path.join(root, "etc/keepalived/keepalived.conf");
        const ka = fs.readFileSync(conf, "utf8");
        for (const line of [
            "state BACKUP",
            "nopreempt",
            "interface wg0",
            "priority 100",
            "unicast_src_ip 169.254.77.2",
        ])
            expect(ka).toContain(line);
        expect(ka).toContain('notify_master "/usr/local/lib/meteor-do/lb-role.sh active"');
        expect(fs.readFileSync(path.join(root, "etc/meteor-do/failover/failover.env"), "utf8")).toBe(
            `FAILOVER_API=https://api.digitalocean.com\nFAILOVER_RESERVED_IP=${RESERVED}\nFAILOVER_DROPLET_ID=1234\nFAILOVER_GENERATION=${"1".repeat(64)}\n`,
        );
        if (fs.existsSync("/usr/sbin/keepalived")) {
            // In a network namespace of its own with a TUN wg0 (what wireguard-go makes); the tracked and notify
            // scripts replaced by a root-owned binary, since keepalived refuses scripts under a writable /tmp.
            const checked = path.join(root, "checked.conf");
            fs.writeFileSync(checked, ka.replace(/\/usr\/local\/lib\/meteor-do\/lb-role\.sh [a-z]+/g, "/usr/bin/true"));
            const t = await run("unshare", [
                "-n",
                "bash",
                "-c",
                `ip tuntap add dev wg0 mode tun && ip link set wg0 up && ip addr add 169.254.77.2/30 dev wg0 && keepalived -t -l -f ${checked}`,
            ]);
            expect([t.code, t.stderr]).toEqual([0, ""]);
            // The same check fails for a config keepalived does not accept.
            fs.writeFileSync(checked, ka.replace("nopreempt", "nopreempt\n  no_such_keyword 1"));
            expect(
                (
                    await run("unshare", [
                        "-n",
                        "bash",
                        "-c",
                        `ip tuntap add dev wg0 mode tun && keepalived -t -l -f ${checked}`,
                    ])
                ).code,
            ).not.toBe(0);
        }
        // Again with the same values: nothing rewritten (no restart of the tunnel or keepalived).
        const before = fs.statSync(conf).mtimeMs;
        expect((await configure(root, "1")).code).toBe(0);
        expect(fs.statSync(conf).mtimeMs).toBe(before);
    });

    test("remove: only the generation in place (a replaced Command's delete leaves the new configuration)", async () => {
        const root = tempDir("failover-root");
        fs.mkdirSync(path.join(root, "etc/wireguard"), { recursive: true });
        fs.writeFileSync(path.join(root, "etc/wireguard/meteor-do.key"), "B".repeat(43) + "=\n", { mode: 0o600 });
        expect((await configure(root, "0", "2".repeat(64))).code).toBe(0);
        const conf = path.join(root, "etc/keepalived/keepalived.conf");
        const old = await failover(root, ["remove", "--generation", "1".repeat(64)]);
        expect([old.code, old.stdout]).toEqual([
            0,
            `failover.sh: the configuration in place is not generation ${"1".repeat(64)} (a newer one replaced it): nothing removed\n`,
        ]);
        expect(fs.existsSync(conf)).toBe(true);
        expect((await failover(root, ["remove", "--generation", "2".repeat(64)])).code).toBe(0);
        expect(fs.existsSync(conf)).toBe(false);
        expect(fs.existsSync(path.join(root, "etc/wireguard/wg0.conf"))).toBe(false);
    });

    test("configure refuses bad arguments, naming them", async () => {
        const root = tempDir("failover-root");
        const r = await failover(root, ["configure", "--index", "2"]);
        expect([r.code, r.stderr]).toEqual([1, "failover.sh: error: --index must be 0 or 1, got '2'\n"]);
    });
});
