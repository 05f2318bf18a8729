// tlsMode letsencrypt end to end on loopback: components/host/letsencrypt.sh and write-tls.sh run for
// real against Debian's certbot and pebble, with the load balancer's own nginx tree (nginx/render.ts)
// serving the ACME webroot on its port-80 server and TLS on its 443 server.
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import * as tls from "tls";
import { tempDir } from "../support/files";
import { hostTool } from "../support/hostTools";
import { Backend, Lb, loopbackView, startBackend, startLb, stopAll } from "../support/nginx";
import { freePort } from "../support/ports";
import { stop } from "../support/processes";
import { waitFor } from "../support/wait";
import { certbotEnv, prepareLb, runTool } from "./lbSetup";
import { Pebble, startPebble } from "./pebble";

jest.setTimeout(120_000);

const domain = "app.meteor-do.test";
const email = "ops@meteor-do.test";
const script = hostTool("letsencrypt.sh");

let dir: string;
let tlsDir: string;
let leDir: string;
let pebble: Pebble;
let backend: Backend;
let lb: Lb;
let httpsPort: number;
let env: NodeJS.ProcessEnv;

/** Runs a command with the suite's environment. */
const run = (cmd: string, args: string[], stdin = "", timeoutMs = 60_000) => runTool(env, cmd, args, stdin, timeoutMs);

interface Served {
    fingerprint: string;
    serial: string;
    issuer: string;
    chain: number;
    authorized: boolean;
    error?: string;
}
/** The certificate nginx presents for the domain (SNI), checked against `ca` when given. */
function served(ca?: string): Promise<Served> {
    return new Promise((resolve, reject) => {
        const s = tls.connect(
            { host: "127.0.0.1", port: httpsPort, servername: domain, ca, rejectUnauthorized: false },
            () => {
                const leaf = s.getPeerCertificate(true);
                let chain = 0;
                for (
                    let c: tls.DetailedPeerCertificate | undefined = leaf;
                    c && chain < 5;
                    c = c.issuerCertificate === c ? undefined : c.issuerCertificate
                )
                    chain++;
                const authorized = s.authorized && !tls.checkServerIdentity(domain, leaf);
                resolve({
                    fingerprint: leaf.fingerprint256,
                    serial: leaf.serialNumber,
                    issuer: String(leaf.issuer.CN),
                    chain,
                    authorized,
                    error: s.authorizationError?.toString(),
                });
                s.end();
            },
        );
        s.on("error", reject);
    });
}

const fingerprintOf = (pemFile: string) => new crypto.X509Certificate(fs.readFileSync(pemFile)).fingerprint256;
const lineage = () => path.join(leDir, "config/live", domain);

beforeAll(async () => {
    dir = tempDir("letsencrypt");
    tlsDir = path.join(dir, "tls");
    leDir = path.join(dir, "le");
    const ports = { http: await freePort(), https: await freePort(), admin: await freePort() };
    httpsPort = ports.https;
    backend = await startBackend("127.0.0.1", await freePort());
    const view = loopbackView(dir, [{ ip: backend.ip, port: backend.port }], ports, {
        serverName: domain,
        tls: {
            certificate: path.join(tlsDir, "live/fullchain.pem"),
            privateKey: path.join(tlsDir, "live/privkey.pem"),
            selfSigned: true,
        },
        // What config gives tlsMode letsencrypt by default (hstsMaxAge).
        hstsMaxAge: 31536000,
    });
    pebble = await startPebble(dir, ports.http);
    env = certbotEnv(view, { tlsDir, leDir, caBundle: pebble.apiCaBundle });
    await prepareLb(env, dir, domain);
    lb = await startLb(view);
});

afterAll(async () => {
    await Promise.all((pebble?.procs ?? []).map((p) => stop(p)));
    await stopAll();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("before issuance nginx starts on the self-signed pair that write-tls.sh installed", async () => {
    expect(fs.readlinkSync(path.join(tlsDir, "live"))).toBe(".");
    const s = await served();
    expect(s.fingerprint).toBe(fingerprintOf(path.join(dir, "cert.pem")));
    expect(s.authorized).toBe(false);
});

describe("issuance and renewal against pebble", () => {
    let issuedSerial: string;

    test("issue: HTTP-01 through nginx's port-80 webroot, then nginx serves the issued chain", async () => {
        const r = await run("bash", [script, "issue", domain, email, pebble.directory]);
        expect([r.code, r.out]).toEqual([0, expect.stringContaining("nginx reloaded")]);
        expect(fs.readlinkSync(path.join(tlsDir, "live"))).toBe(lineage());

        // pebble fetched the token from nginx's port-80 server (the webroot location), not from anything else.
        expect(fs.readFileSync(path.join(dir, "logs/access.log"), "utf8")).toMatch(
            /"GET \/\.well-known\/acme-challenge\/[A-Za-z0-9_-]+ HTTP\/1\.1" 200 /,
        );
        const root = await pebble.issuingRoot();
        // A reload is a signal: old workers finish with the old certificate for a moment, so wait (bounded).
        const s = await waitFor(
            "the issued chain served",
            async () => {
                const now = await served(root);
                return now.chain === 3 && now;
            },
            10000,
        );
        expect(s).toMatchObject({ authorized: true, chain: 3 }); // leaf, pebble's intermediate, its root
        expect(s.fingerprint).toBe(fingerprintOf(path.join(lineage(), "cert.pem")));
        // The renewal config certbot keeps names the server and our deploy hook.
        const conf = fs.readFileSync(path.join(leDir, "config/renewal", `${domain}.conf`), "utf8");
        expect(conf).toContain(`server = ${pebble.directory}`);
        expect(conf).toContain(`renew_hook = ${script} deploy-hook`);
        issuedSerial = s.serial;
    });

    test("HSTS: a response over the CA-issued certificate, verified against the CA, carries Strict-Transport-Security", async () => {
        const ca = await pebble.issuingRoot();
        const res = await new Promise<{ status?: number; hsts?: string | string[] }>((resolve, reject) => {
            const req = https.get(
                { host: "127.0.0.1", port: httpsPort, servername: domain, path: "/", ca, headers: { Host: domain } },
                (r) => {
                    r.resume();
                    resolve({ status: r.statusCode, hsts: r.headers["strict-transport-security"] });
                },
            );
            req.on("error", reject);
            req.setTimeout(10_000, () => req.destroy(new Error("timed out")));
        });
        expect(res).toEqual({ status: 200, hsts: "max-age=31536000" });
    });

    test("a later write-tls.sh run (a new self-signed pair) and reload never replace the issued certificate", async () => {
        await prepareLb(env, dir, domain);
        expect((await run("/usr/sbin/nginx", ["-c", env.NGINX_CONF!, "-s", "reload"])).code).toBe(0);
        await new Promise((r) => setTimeout(r, 300));
        expect((await served(await pebble.issuingRoot())).serial).toBe(issuedSerial);
    });

    test("issue again is a no-op: certbot keeps the valid certificate", async () => {
        const r = await run("bash", [script, "issue", domain, email, pebble.directory]);
        expect(r.code).toBe(0);
        expect(r.out).toMatch(/not yet due for renewal/i);
        expect((await served()).serial).toBe(issuedSerial);
    });

    test("forced renewal: the deploy hook reloads nginx onto the new certificate without dropping a request", async () => {
        const masterPid = lb.proc.pid;
        // Steady load: 4 clients, each a new TLS connection per request, until told to stop (bounded).
        let stopLoad = false;
        const results = { ok: 0, failed: [] as string[] };
        const ca = await pebble.issuingRoot();
        const client = async () => {
            const deadline = Date.now() + 60_000;
            while (!stopLoad && Date.now() < deadline) {
                try {
                    const status = await new Promise<number>((resolve, reject) => {
                        const req = https.get(
                            {
                                host: "127.0.0.1",
                                port: httpsPort,
                                path: "/",
                                servername: domain,
                                headers: { host: domain },
                                ca,
                                agent: false,
                                timeout: 5000,
                            },
                            (res) => {
                                res.resume();
                                res.on("end", () => resolve(res.statusCode ?? 0));
                            },
                        );
                        req.on("timeout", () => req.destroy(new Error("timeout")));
                        req.on("error", reject);
                    });
                    if (status === 200) results.ok++;
                    else results.failed.push(`status ${status}`);
                } catch (e) {
                    results.failed.push(String(e));
                }
                await new Promise((r) => setTimeout(r, 10));
            }
        };
        const load = [client(), client(), client(), client()];
        await new Promise((r) => setTimeout(r, 500));
        const before = results.ok;

        // What certbot.timer runs (`certbot -q renew`), forced; without the random start delay it adds off a TTY.
        const r = await run("certbot", [
            "renew",
            "--force-renewal",
            "--no-random-sleep-on-renew",
            "--cert-name",
            domain,
            "--non-interactive",
            "--config-dir",
            env.LE_CONFIG_DIR!,
            "--work-dir",
            env.LE_WORK_DIR!,
            "--logs-dir",
            env.LE_LOGS_DIR!,
        ]);
        await new Promise((r) => setTimeout(r, 1000));
        stopLoad = true;
        await Promise.all(load);

        expect([r.code, r.out]).toEqual([0, expect.stringContaining("nginx reloaded")]);
        expect(results.failed).toEqual([]);
        expect(before).toBeGreaterThan(0);
        expect(results.ok - before).toBeGreaterThan(20);
        console.log(
            `renewal under load: ${results.ok} requests, ${results.ok - before} during and after certbot renew, 0 failed`,
        );
        const s = await served(ca);
        expect(s.authorized).toBe(true);
        expect(s.serial).not.toBe(issuedSerial);
        expect(s.fingerprint).toBe(fingerprintOf(path.join(lineage(), "cert.pem")));
        // A reload (HUP to the same master), not a restart.
        expect(lb.proc.exitCode).toBeNull();
        expect(lb.proc.pid).toBe(masterPid);
    });

    test("a deploy hook whose certificate nginx rejects switches back and fails; nginx keeps serving", async () => {
        const before = await served();
        const bogus = path.join(dir, "bogus-lineage");
        fs.mkdirSync(bogus, { recursive: true });
        // An unexpired certificate with somebody else's key: `nginx -t` refuses the pair.
        fs.copyFileSync(path.join(dir, "cert.pem"), path.join(bogus, "fullchain.pem"));
        execFileSync("openssl", [
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            path.join(bogus, "privkey.pem"),
        ]);
        const r = await run("env", [`RENEWED_LINEAGE=${bogus}`, "bash", script, "deploy-hook"]);
        expect(r.code).toBe(1);
        expect(r.out).toMatch(/nginx config does not validate with the new certificate:[\s\S]*key values mismatch/);
        expect(r.out.trim().split("\n").pop()).toBe(
            `letsencrypt: nginx keeps running on the previous certificate (${lineage()})`,
        );
        expect(fs.readlinkSync(path.join(tlsDir, "live"))).toBe(lineage());
        expect((await served()).serial).toBe(before.serial);
        expect(lb.proc.exitCode).toBeNull();
    });
});

test("prepare refuses to run before write-tls.sh installed a pair, and arguments are checked", async () => {
    const bare = path.join(dir, "bare");
    const r = await run("env", [`TLS_DIR=${bare}`, `LE_CONFIG_DIR=${bare}/le`, "bash", script, "prepare", domain]);
    expect([r.code, r.out.trim()]).toEqual([
        1,
        `letsencrypt: no self-signed pair in ${bare} (write-tls.sh runs first)`,
    ]);
    expect((await run("bash", [script, "issue", domain, "not-an-email", pebble.directory])).out.trim()).toBe(
        "letsencrypt: not an e-mail address: not-an-email",
    );
    expect((await run("bash", [script, "prepare", "localhost"])).out.trim()).toBe(
        "letsencrypt: not a domain name: localhost",
    );
});
