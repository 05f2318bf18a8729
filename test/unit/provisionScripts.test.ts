import { spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { selfSignedCert } from "../support/certs";
import { hostTool } from "../support/hostTools";

// write-tls.sh and install-node.sh run for real here, against temporary directories and a Node.js
// "distribution" served on 127.0.0.1.

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "provision-"))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const script = hostTool;

describe("write-tls.sh", () => {
    // Real pairs (openssl), since the script checks that the key matches the certificate and nginx loads them.
    const pair = (name: string) => {
        const made = selfSignedCert(fs.mkdtempSync(path.join(dir, `${name}-`)), `${name}.example.test`);
        return { key: fs.readFileSync(made.privateKey, "utf8"), cert: fs.readFileSync(made.certificate, "utf8") };
    };
    let site: { key: string; cert: string };
    let other: { key: string; cert: string };
    let ca: string;
    beforeAll(() => {
        site = pair("site");
        other = pair("other");
        ca = pair("ca").cert;
    });
    const run = (tlsDir: string, input: string) =>
        spawnSync("bash", [script("write-tls.sh")], {
            input,
            encoding: "utf8",
            env: { ...process.env, TLS_DIR: tlsDir, TLS_NO_RELOAD: "1" },
        });
    const installed = (tlsDir: string) => ({
        key: fs.readFileSync(path.join(tlsDir, "privkey.pem"), "utf8"),
        cert: fs.readFileSync(path.join(tlsDir, "fullchain.pem"), "utf8"),
    });

    test("splits key and chain from stdin: key 0600, chain in order, nothing secret printed", () => {
        const tlsDir = path.join(dir, "tls1");
        const r = run(tlsDir, site.key + site.cert + ca);
        expect(r.stderr).toBe("");
        expect(r.status).toBe(0);
        expect(r.stdout).toBe(`write-tls: installed 2 certificate(s) in ${tlsDir}\n`);
        const keyBody = site.key.split("\n")[1];
        expect(r.stdout + r.stderr).not.toContain(keyBody);
        expect(installed(tlsDir)).toEqual({ key: site.key, cert: site.cert + ca });
        expect(fs.statSync(path.join(tlsDir, "privkey.pem")).mode & 0o777).toBe(0o600);
        expect(fs.statSync(tlsDir).mode & 0o777).toBe(0o700);
        expect(fs.readdirSync(tlsDir).sort()).toEqual(["fullchain.pem", "privkey.pem"]);
    });

    const garbage = "-----BEGIN CERTIFICATE-----\nR0FSQkFHRQ==\n-----END CERTIFICATE-----\n";
    test.each([
        ["no key", () => site.cert, "write-tls: no PRIVATE KEY block on stdin\n"],
        ["no certificate", () => site.key, "write-tls: no CERTIFICATE block on stdin\n"],
        ["two keys", () => site.key + site.key + site.cert, "write-tls: expected exactly one private key on stdin\n"],
        [
            "a key that does not match the certificate",
            () => other.key + site.cert,
            "write-tls: the private key does not match the certificate (the first CERTIFICATE block); the installed pair is unchanged\n",
        ],
        [
            "a leaf that is not a certificate",
            () => site.key + garbage,
            "write-tls: the first CERTIFICATE block is not a certificate; the installed pair is unchanged\n",
        ],
    ])("refuses %s and leaves the installed files alone", (_case, input, error) => {
        const tlsDir = path.join(dir, `tls-${crypto.randomUUID()}`);
        expect(run(tlsDir, site.key + site.cert).status).toBe(0);
        const r = run(tlsDir, input());
        expect(r.status).toBe(1);
        expect(r.stderr).toBe(error);
        expect(installed(tlsDir)).toEqual({ key: site.key, cert: site.cert });
        expect(fs.readdirSync(tlsDir).sort()).toEqual(["fullchain.pem", "privkey.pem"]);
    });

    test("a chain nginx cannot load (a broken intermediate) is refused by nginx -t before it is installed", () => {
        const tlsDir = path.join(dir, "tls-nginx");
        expect(run(tlsDir, site.key + site.cert).status).toBe(0);
        const r = run(tlsDir, other.key + other.cert + garbage);
        expect(r.status).toBe(1);
        expect(r.stderr).toMatch(/^write-tls: nginx refuses the pair: .*PEM.*; the installed pair is unchanged\n$/s);
        expect(installed(tlsDir)).toEqual({ key: site.key, cert: site.cert });
    });
});

describe("app-unit.sh", () => {
    const run = (dropins: string, ...args: string[]) =>
        spawnSync("bash", [script("app-unit.sh"), ...args], {
            encoding: "utf8",
            env: { ...process.env, APP_UNIT_DROPIN_DIR: dropins, APP_UNIT_NO_RELOAD: "1" },
        });
    const read = (dropins: string, name: string) => fs.readFileSync(path.join(dropins, name), "utf8");

    test("writes the stop timeout, the bind address and the sandbox with the memory limit as drop-ins; the same values again change nothing", () => {
        const dropins = path.join(dir, "meteor-app.service.d");
        expect(run(dropins, "30", "10.116.0.5", "90%").stdout).toBe(
            "app-unit: TimeoutStopSec=30 BIND_IP=10.116.0.5 MemoryMax=90% (50-stop-timeout.conf 50-bind.conf 60-sandbox.conf)\n",
        );
        expect(read(dropins, "50-stop-timeout.conf")).toBe("[Service]\nTimeoutStopSec=30\n");
        expect(read(dropins, "50-bind.conf")).toBe("[Service]\nEnvironment=BIND_IP=10.116.0.5\n");
        const sandbox = read(dropins, "60-sandbox.conf");
        for (const line of [
            "ProtectSystem=strict",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "RestrictSUIDSGID=yes",
            "RestrictNamespaces=yes",
            "CapabilityBoundingSet=",
            "SystemCallFilter=@system-service",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
            "ProtectProc=invisible",
            "PrivateDevices=yes",
            "MemoryMax=90%",
        ])
            expect(sandbox.split("\n")).toContain(line);
        expect(sandbox).not.toContain("MemoryDenyWriteExecute");
        expect(run(dropins, "30", "10.116.0.5", "90%").stdout).toBe(
            "app-unit: TimeoutStopSec=30 BIND_IP=10.116.0.5 MemoryMax=90% already set\n",
        );
        expect(run(dropins, "30", "10.116.0.5", "2G").stdout).toBe(
            "app-unit: TimeoutStopSec=30 BIND_IP=10.116.0.5 MemoryMax=2G (60-sandbox.conf)\n",
        );
        expect(read(dropins, "60-sandbox.conf")).toBe(sandbox.replace("MemoryMax=90%", "MemoryMax=2G"));
        expect(run(dropins, "45", "10.116.0.9", "2G").stdout).toBe(
            "app-unit: TimeoutStopSec=45 BIND_IP=10.116.0.9 MemoryMax=2G (50-stop-timeout.conf 50-bind.conf)\n",
        );
        expect(fs.readdirSync(dropins).sort()).toEqual(["50-bind.conf", "50-stop-timeout.conf", "60-sandbox.conf"]);
    });

    test.each([
        [["30s", "10.0.0.1", "90%"], "app-unit: stop timeout must be whole seconds, got '30s'\n"],
        [["30", "0.0.0.0;x", "90%"], "app-unit: bind address must be an IPv4 address, got '0.0.0.0;x'\n"],
        [
            ["30", "10.0.0.1", "2GB"],
            "app-unit: memory max must be bytes with K, M, G or T, a percentage of RAM, or infinity, got '2GB'\n",
        ],
        [
            ["30", "10.0.0.1", "50%;x"],
            "app-unit: memory max must be bytes with K, M, G or T, a percentage of RAM, or infinity, got '50%;x'\n",
        ],
    ])("refuses %j", (args, error) => {
        const r = run(path.join(dir, "unused.d"), ...args);
        expect([r.status, r.stderr]).toEqual([1, error]);
        expect(fs.existsSync(path.join(dir, "unused.d"))).toBe(false);
    });
});

describe("install-node.sh", () => {
    const version = "99.1.2";
    let dist: string;
    let server: ReturnType<typeof spawn>;
    let port: number;

    // A fake release laid out like nodejs.org/dist: a tarball whose bin/node prints the version.
    function makeRelease(v: string, corrupt = false) {
        const name = `node-v${v}-linux-x64`;
        const stage = path.join(dir, "stage", name);
        fs.mkdirSync(path.join(stage, "bin"), { recursive: true });
        fs.writeFileSync(path.join(stage, "bin", "node"), `#!/bin/sh\necho v${v}\n`, { mode: 0o755 });
        for (const tool of ["npm", "npx"])
            fs.writeFileSync(path.join(stage, "bin", tool), "#!/bin/sh\n", { mode: 0o755 });
        const out = path.join(dist, `v${v}`);
        fs.mkdirSync(out, { recursive: true });
        spawnSync("tar", ["-cJf", path.join(out, `${name}.tar.xz`), "-C", path.dirname(stage), name]);
        const sum = crypto
            .createHash("sha256")
            .update(fs.readFileSync(path.join(out, `${name}.tar.xz`)))
            .digest("hex");
        const listed = corrupt ? sum.replace(/^./, (c) => (c === "0" ? "1" : "0")) : sum;
        fs.writeFileSync(
            path.join(out, "SHASUMS256.txt"),
            `${"f".repeat(64)}  node-v${v}-darwin-x64.tar.xz\n${listed}  ${name}.tar.xz\n`,
        );
    }

    beforeAll(async () => {
        dist = path.join(dir, "dist");
        makeRelease(version);
        makeRelease("99.0.0", true);
        server = spawn("python3", ["-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dist], {
            stdio: ["ignore", "pipe", "pipe"],
        });
        port = await new Promise<number>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("http.server did not start")), 10000);
            server.stdout!.on("data", (d: Buffer) => {
                const m = /port (\d+)/.exec(d.toString());
                if (m) {
                    clearTimeout(timer);
                    resolve(Number(m[1]));
                }
            });
        });
    });
    afterAll(() => {
        if (server.pid) process.kill(server.pid);
    });

    const install = (v: string, root: string) =>
        spawnSync("bash", [script("install-node.sh"), v, `http://127.0.0.1:${port}/`.replace(/\/$/, "")], {
            encoding: "utf8",
            env: { ...process.env, NODE_PREFIX: path.join(root, "opt"), NODE_BINDIR: path.join(root, "bin") },
            timeout: 30000,
        });

    test("downloads, checks the sha256 and links node/npm/npx; a second run downloads nothing", () => {
        const root = path.join(dir, "root1");
        fs.mkdirSync(path.join(root, "bin"), { recursive: true });
        const r = install(version, root);
        expect(r.stderr).toBe("");
        expect(r.stdout).toBe(`v${version}\n`);
        for (const tool of ["node", "npm", "npx"]) {
            expect(fs.readlinkSync(path.join(root, "bin", tool))).toBe(
                path.join(root, "opt", `v${version}`, "bin", tool),
            );
        }
        const again = install(version, root);
        expect(again.stdout).toBe(`install-node: v${version} already installed\nv${version}\n`);
    });

    test("a tarball that does not match SHASUMS256.txt is refused and nothing is installed", () => {
        const root = path.join(dir, "root2");
        fs.mkdirSync(path.join(root, "bin"), { recursive: true });
        const r = install("99.0.0", root);
        expect(r.status).not.toBe(0);
        expect(r.stdout + r.stderr).toMatch(/FAILED|did NOT match/);
        expect(fs.existsSync(path.join(root, "opt", "v99.0.0"))).toBe(false);
        expect(fs.readdirSync(path.join(root, "bin"))).toEqual([]);
    });

    test("a version the mirror does not have fails without installing anything", () => {
        const root = path.join(dir, "root3");
        fs.mkdirSync(path.join(root, "bin"), { recursive: true });
        expect(install("98.0.0", root).status).not.toBe(0);
        expect(fs.readdirSync(path.join(root, "bin"))).toEqual([]);
    });
});

describe("bastion.sh", () => {
    // sshd itself checks the rule: `sshd -t` on a minimal config that includes the drop-in (it wants its
    // privilege separation directory, as Debian's ssh.service makes it).
    beforeAll(() => fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }));
    const sshdTest = (dropin: string) => {
        const conf = path.join(path.dirname(dropin), "sshd_config");
        const hostKey = path.join(path.dirname(dropin), "host_key");
        if (!fs.existsSync(hostKey)) spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
        fs.writeFileSync(conf, `HostKey ${hostKey}\nInclude ${dropin}\n`);
        return `/usr/sbin/sshd -t -f ${conf}`;
    };
    const run = (dropin: string, ...ips: string[]) =>
        spawnSync("bash", [script("bastion.sh"), ...ips], {
            encoding: "utf8",
            env: {
                ...process.env,
                METEOR_DO_BASTION_SSHD: dropin,
                METEOR_DO_SSHD_TEST: sshdTest(dropin),
                METEOR_DO_SSH_RELOAD: "true",
            },
        });
    const permitOpen = (dropin: string) => /^ {2}PermitOpen (.*)$/m.exec(fs.readFileSync(dropin, "utf8"))?.[1];

    test("the deploy and ops users may tunnel to the listed hosts' port 22 only; sshd accepts the rule", () => {
        const d = fs.mkdtempSync(path.join(dir, "bastion-"));
        const dropin = path.join(d, "55-meteor-do-bastion.conf");
        const r = run(dropin, "10.116.0.5", "10.116.0.6");
        expect([r.status, r.stderr]).toEqual([0, ""]);
        expect(fs.readFileSync(dropin, "utf8")).toBe(
            [
                "# Written by bastion.sh: the app droplets SSH port, nothing else, for these users.",
                "# hosts: 10.116.0.5 10.116.0.6",
                "Match User deploy,ops",
                "  AllowTcpForwarding local",
                "  PermitOpen 10.116.0.5:22 10.116.0.6:22",
                "Match all",
                "",
            ].join("\n"),
        );
        expect(run(dropin, "10.116.0.5", "10.116.0.6").stdout).toContain("unchanged");
    });

    test("a host that left the list stays for one more run (its retire goes through the LB), then is gone", () => {
        const d = fs.mkdtempSync(path.join(dir, "bastion-"));
        const dropin = path.join(d, "55-meteor-do-bastion.conf");
        run(dropin, "10.116.0.5", "10.116.0.6");
        expect(run(dropin, "10.116.0.5").status).toBe(0);
        expect(permitOpen(dropin)).toBe("10.116.0.5:22 10.116.0.6:22");
        expect(run(dropin, "10.116.0.5", "10.116.0.7").status).toBe(0);
        expect(permitOpen(dropin)).toBe("10.116.0.5:22 10.116.0.7:22");
    });

    test("refuses anything but IPv4 addresses, and keeps the previous rule when sshd refuses the new one", () => {
        const d = fs.mkdtempSync(path.join(dir, "bastion-"));
        const dropin = path.join(d, "55-meteor-do-bastion.conf");
        expect(run(dropin).status).toBe(1);
        const bad = run(dropin, "10.116.0.5", "*");
        expect([bad.status, bad.stderr]).toEqual([1, "bastion.sh: error: '*' is not an IPv4 address\n"]);
        expect(fs.existsSync(dropin)).toBe(false);
        run(dropin, "10.116.0.5");
        const refused = spawnSync("bash", [script("bastion.sh"), "10.116.0.9"], {
            encoding: "utf8",
            env: {
                ...process.env,
                METEOR_DO_BASTION_SSHD: dropin,
                METEOR_DO_SSHD_TEST: "false",
                METEOR_DO_SSH_RELOAD: "true",
            },
        });
        expect(refused.status).toBe(1);
        expect(permitOpen(dropin)).toBe("10.116.0.5:22");
    });
});
