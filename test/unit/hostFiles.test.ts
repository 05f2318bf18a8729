import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { appUserData, lbUserData } from "../../components/cloudInit";
import { hostScripts, writeHostTools } from "../../components/hostTools";
import { installRuntime, installTools, runTool, shellQuote, waitForCloudInit } from "../../components/commands";
import { installMongoCa } from "../../components/database";

// The files that run on droplets, checked with the real tools: Debian's cloud-init schema validator
// (offline) and shellcheck.

let dir: string;
beforeAll(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "hostfiles-"))));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function schema(text: string): { status: number; output: string } {
    const file = path.join(dir, `user-data-${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, text);
    const r = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
    return { status: r.status ?? -1, output: r.stdout + r.stderr };
}

const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGkq0p2t0w9Wv7n6bq0q5Zt9r0lG3c1j0fTn0aY5Qk0N deploy";

/** A real ED25519 host key pair in OpenSSH format, as @pulumi/tls makes it. */
function hostKeyPair(): { privateKeyOpenssh: string; publicKeyOpenssh: string } {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "hostkey-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path.join(d, "k")]);
    const pair = {
        privateKeyOpenssh: fs.readFileSync(path.join(d, "k"), "utf8"),
        publicKeyOpenssh: fs.readFileSync(path.join(d, "k.pub"), "utf8").trim(),
    };
    fs.rmSync(d, { recursive: true });
    return pair;
}

describe("cloud-init user-data", () => {
    const hostKey = hostKeyPair();
    const appArgs = { deployPublicKey: key, deployFrom: "10.116.0.0/20", hostKey };
    const app = appUserData(appArgs);
    const lb = lbUserData({ deployPublicKey: key, hostKey });

    test.each([
        ["app", app],
        ["lb", lb],
    ])("%s user-data passes `cloud-init schema`", (_role, text) => {
        const r = schema(text);
        expect(r.output).toContain("Valid cloud-config");
        expect(r.status).toBe(0);
    });

    test("the validator really rejects a broken document (so the check above can fail)", () => {
        const broken = app.replace("ssh_pwauth: false", "ssh_pwauth: [not, a, boolean]");
        expect(broken).not.toBe(app);
        expect(schema(broken).status).not.toBe(0);
    });

    test("both roles: deploy user with the key, no root and no password logins", () => {
        for (const text of [app, lb]) {
            expect(text).toMatch(/^#cloud-config\n/);
            expect(text).toContain("ssh_pwauth: false\ndisable_root: true\n");
            expect(text).toContain("      PermitRootLogin no\n      PasswordAuthentication no\n");
        }
        expect(lb).toContain(`ssh_authorized_keys:\n      - '${key}'\n`);
        // App hosts take their deploy key from inside the VPC only (where the LB is).
        expect(app).toContain(`ssh_authorized_keys:\n      - 'from="10.116.0.0/20" ${key}'\n`);
        expect(() => appUserData({ ...appArgs, deployFrom: '10.116.0.0/20" x' })).toThrow("deployFrom is");
    });

    test("both roles: the program's ED25519 host key and no other, sshd told to use only it", () => {
        for (const text of [app, lb]) {
            const indented = hostKey.privateKeyOpenssh
                .trim()
                .split("\n")
                .map((l) => `    ${l}`)
                .join("\n");
            expect(text).toContain(
                `ssh_deletekeys: true\n# (ed25519 is listed but never generated: ssh_keys installs it first.)\nssh_genkeytypes: [ed25519]\nssh_keys:\n  ed25519_private: |\n${indented}\n  ed25519_public: ${hostKey.publicKeyOpenssh}\n`,
            );
            expect(text).toContain("      HostKey /etc/ssh/ssh_host_ed25519_key\n");
        }
        expect(() => lbUserData({ deployPublicKey: key, hostKey: { ...hostKey, privateKeyOpenssh: "x" } })).toThrow(
            "hostKey.privateKeyOpenssh must be an OpenSSH private key (its value is not shown)",
        );
    });

    test("both roles: the deploy user's sudo is the host tools and their install, nothing else", () => {
        for (const text of [app, lb]) {
            expect(text).not.toContain("NOPASSWD:ALL");
            expect(text).toContain(
                '    sudo: "ALL=(root) NOPASSWD: /usr/local/lib/meteor-do/*.sh, /usr/bin/install -d -m 0755 /usr/local/lib/meteor-do, /usr/bin/tar -xzf - --no-same-owner -C /usr/local/lib/meteor-do, /usr/bin/install -d -m 0755 /etc/ssl/meteor-do, /usr/bin/install -m 0644 /dev/stdin /etc/ssl/meteor-do/mongodb-ca.pem"\n',
            );
        }
        // installTools and the database CA's install are exactly the commands the rule allows.
        expect(installMongoCa()).toBe(
            "sudo install -d -m 0755 /etc/ssl/meteor-do && sudo install -m 0644 /dev/stdin /etc/ssl/meteor-do/mongodb-ca.pem",
        );
        expect(installTools()).toBe(
            "sudo install -d -m 0755 /usr/local/lib/meteor-do && base64 -d | sudo tar -xzf - --no-same-owner -C /usr/local/lib/meteor-do",
        );
    });

    test("no role lets anyone tunnel from user-data: the LB's tunnels come from bastion.sh", () => {
        for (const text of [app, lb]) {
            expect(text).not.toContain("Match User");
            expect(text).not.toContain("PermitOpen");
            expect(text).toContain("      AllowTcpForwarding no\n");
        }
    });

    test("app: bundles are built by an unprivileged system user without a login", () => {
        expect(app).toContain(
            "  - name: meteor-build\n    gecos: unpacks bundles and runs npm install (stage.sh), never root\n    system: true\n    shell: /usr/sbin/nologin\n",
        );
    });

    test("lb: Debian's nginx unit gets a sandbox drop-in, loaded before nginx (re)starts", () => {
        expect(lb).toContain("  - path: /etc/systemd/system/nginx.service.d/60-sandbox.conf\n");
        for (const line of ["ProtectSystem=full", "ProtectKernelTunables=yes", "SystemCallFilter=@system-service"])
            expect(lb).toContain(`      ${line}\n`);
        expect(lb).toMatch(/- \[systemctl, daemon-reload\]\n(.*\n)* {2}- \[systemctl, try-restart, nginx.service\]/);
        expect(app).not.toContain("nginx.service.d");
    });

    test("app: the unit runs the current release as the unprivileged meteor user; no Node.js in user-data", () => {
        expect(app).toContain("      User=meteor\n");
        expect(app).toContain("      WorkingDirectory=/srv/meteor/current/bundle\n");
        expect(app).toContain("      EnvironmentFile=/etc/meteor/app.env\n");
        expect(app).toContain("      ExecStart=/usr/local/bin/node main.js\n");
        // Node.js and the stop timeout come from the runtime Command, so changing them replaces no droplet.
        const settings = app
            .split("\n")
            .filter((l) => !/^\s*#/.test(l))
            .join("\n");
        expect(settings).not.toMatch(/install-node|node-v|TimeoutStopSec/);
    });

    test("lb: Debian's nginx with the Lua module and its libraries", () => {
        expect(lb).toContain("packages:\n  - nginx\n  - libnginx-mod-http-lua\n  - lua-resty-core\n  - lua-cjson\n");
    });

    test("user-data depends on its inputs only (no droplet replaced for nothing): a fresh module renders the same text, another key changes just the key", async () => {
        // A second module instance: module-level state (a timestamp, a random token) would show up here.
        let fresh = { appUserData, lbUserData };
        await jest.isolateModulesAsync(async () => {
            fresh = await import("../../components/cloudInit");
        });
        expect(fresh.appUserData).not.toBe(appUserData);
        expect([fresh.appUserData(appArgs), fresh.lbUserData({ deployPublicKey: key, hostKey })]).toEqual([app, lb]);
        const other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO7h2b1Xz3pQeJ0yV8mK4cW9sLr6tUa5dN2fG1hH3jK0 other";
        for (const [render, text] of [
            [appUserData, app],
            [lbUserData, lb],
        ] as const) {
            const changed = render({ ...appArgs, deployPublicKey: other });
            expect(changed).not.toBe(text);
            expect(changed.split(other).join(key)).toBe(text);
        }
    });
});

describe("host scripts", () => {
    const scripts = Object.keys(hostScripts());

    test("the scripts every host gets include the ones the program runs", () => {
        expect(scripts).toEqual(expect.arrayContaining(["app-unit.sh", "install-node.sh", "write-tls.sh"]));
    });

    // As installed: layout.sh, which every script sources, is rendered by the program.
    test.each(scripts)("%s passes shellcheck", (name) => {
        const tools = path.join(dir, "installed");
        if (!fs.existsSync(tools)) writeHostTools(tools);
        const r = spawnSync(
            "shellcheck",
            ["--severity=style", "--external-sources", "--source-path=SCRIPTDIR", path.join(tools, name)],
            { encoding: "utf8" },
        );
        expect(r.stdout + r.stderr).toBe("");
        expect(r.status).toBe(0);
    });

    test("shellcheck really reports a bad script (so the check above can fail)", () => {
        const bad = path.join(dir, "bad.sh");
        fs.writeFileSync(bad, "#!/bin/bash\nrm -rf $1/*\n");
        expect(spawnSync("shellcheck", [bad]).status).not.toBe(0);
    });
});

describe("command builders", () => {
    test("exact command strings", () => {
        expect(waitForCloudInit()).toBe("cloud-init status --wait >/dev/null || { cloud-init status --long; exit 1; }");
        expect(installTools()).toBe(
            "sudo install -d -m 0755 /usr/local/lib/meteor-do && base64 -d | sudo tar -xzf - --no-same-owner -C /usr/local/lib/meteor-do",
        );
        expect(runTool("write-tls.sh")).toBe("sudo /usr/local/lib/meteor-do/write-tls.sh");
        expect(runTool("cutover.sh", "--peer", "10.0.0.5:3000", "--label", "it's")).toBe(
            "sudo /usr/local/lib/meteor-do/cutover.sh --peer 10.0.0.5:3000 --label 'it'\\''s'",
        );
        expect(() => runTool("../evil")).toThrow('tool name "../evil" must look like name.sh');
        expect(shellQuote("a b")).toBe("'a b'");
        const reboot = { window: "04:30", peer: "10.116.0.5:3000", lbPrivateIp: "10.116.0.2" };
        expect(installRuntime("22.12.0", "https://nodejs.org/dist", 20, "10.116.0.5", "90%", reboot)).toBe(
            "sudo /usr/local/lib/meteor-do/install-node.sh 22.12.0 https://nodejs.org/dist && sudo /usr/local/lib/meteor-do/app-unit.sh 30 10.116.0.5 90% && sudo /usr/local/lib/meteor-do/reboot-window.sh install 04:30 10.116.0.5:3000 10.116.0.2",
        );
        expect(() => installRuntime("22.12.0", "https://nodejs.org/dist", 20, "0.0.0.0 x", "90%", reboot)).toThrow(
            'bindIp is "0.0.0.0 x": must be an IPv4 address',
        );
    });

    test("installTools really unpacks what tarGzBase64 packs, executable", async () => {
        const { tarGzBase64 } = await import("../../components/archive");
        const target = path.join(dir, "tools");
        fs.mkdirSync(target);
        const b64 = await tarGzBase64({ "x.sh": "#!/bin/sh\necho packed\n" }, 0o755);
        // Same pipeline as installTools(), minus sudo and with our own target dir.
        execFileSync("bash", ["-c", `base64 -d | tar -xzf - --no-same-owner -C ${target}`], { input: b64 });
        expect(execFileSync(path.join(target, "x.sh")).toString()).toBe("packed\n");
    });
});
