// ┌──────────────────────────────────────────────────────────────────────────────────────────────────┐
// │ The one place where the e2e harness stands in for DigitalOcean and the Pulumi engine.            │
// └──────────────────────────────────────────────────────────────────────────────────────────────────┘
// pulumi.runtime.setMocks with these answers; the program under test is the unmodified index.ts.
//
// EMULATED
//  - digitalocean Droplet: boots a Debian 12 host (topology.ts) from the droplet's own `userData`
//    (cloud-init NoCloud seed, instance-id per droplet) with the public keys of its `sshKeys` in root's
//    authorized_keys, as DigitalOcean injects them. Returns id, ipv4Address (public side),
//    ipv4AddressPrivate (from the VPC's ipRange), status. A change of userData/image/region/sshKeys/
//    vpcUuid replaces the droplet (new host, new addresses, old host stopped), as DigitalOcean forces.
//  - ReservedIp: an address on the public side; ReservedIpAssignment puts it on the droplet's eth0.
//  - Vpc (id, urn, ipRange), SshKey (id, MD5 fingerprint as DigitalOcean shows it).
//  - tls PrivateKey (ED25519 via ssh-keygen; ECDSA/RSA via node crypto + ssh-keygen -y) and
//    SelfSignedCert (openssl req -x509): real keys and certificates.
//  - command:remote:Command: runs `create` (or `update` on a non-trigger change when set) over REAL
//    OpenSSH from the client namespace with the resource's connection (host, port, user, privateKey in
//    a 0600 temp file, `proxy` as ProxyCommand `ssh -W`), `stdin` piped, `environment` sent as SSH env
//    requests (SendEnv), so sshd drops it unless AcceptEnv names it, exactly as in production. Dial
//    errors are retried up to dialErrorLimit with perDialTimeout. stdout/stderr (one trailing newline
//    trimmed) become outputs; a non-zero exit fails the resource with the Command's stderr.
//  - command:remote:CopyToRemote: a FileAsset copied with scp (SFTP) over the same kind of connection.
//  - The engine's update semantics, in a state file: a resource whose inputs equal the last successful
//    `up` is not touched and keeps its outputs (so keys, certificates and droplets survive a second
//    `up`); a Command re-runs when its inputs (triggers, create, stdin, environment, connection) change.
//  - Everything else (components, Tag, Firewall, ...): inputs echoed as state.
//
// NOT EMULATED
//  - Cloud Firewalls (no packet filtering; every droplet has a public eth0), DigitalOcean's API
//    validation, the metrics agent, backups, droplet resize.
//  - `delete` commands, deletion of resources that left the program, replacement ordering, and the
//    engine's stop-on-first-error (independent resources keep going; dependents of a failure never run).
//  - addPreviousOutputInEnv, `logging`, customTimeouts (a Command is killed after 15 minutes).
//  - Host key checking (pulumi-command does not check host keys either).
//  - `pulumi preview` and its diff; additionalSecretOutputs (mocks never apply it); provider functions
//    and StackReference reads (`call` throws); PEM forms of ED25519 keys (OpenSSH forms only).
//  - The droplet image is close to, not the same as, DigitalOcean's debian-12-x64: see image.sh for
//    what it adds (packages pre-installed, no apt sources, cloud-init locale/network/datasource drop-in).
import { spawn, spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as topo from "./topology";

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const MOCK_STATE = path.join(topo.DATA_DIR, "engine-state.json");

interface Stored {
    inputsHash: string;
    id: string;
    state: any;
    inputs: any;
}
interface EngineState {
    resources: Record<string, Stored>;
}

/** What happened in one `up`, for the scenario's figures. */
export interface JournalEntry {
    type: string;
    name: string;
    action: "create" | "update" | "replace" | "same" | "failed";
    startedAt: number;
    ms: number;
    error?: string;
}

export class E2eMocks implements pulumi.runtime.Mocks {
    readonly journal: JournalEntry[] = [];
    private readonly engine: EngineState;
    private readonly fingerprints = new Map<string, string>(); // fingerprint or id -> public key
    private readonly keyDir: string;

    constructor() {
        this.engine = fs.existsSync(MOCK_STATE) ? JSON.parse(fs.readFileSync(MOCK_STATE, "utf8")) : { resources: {} };
        fs.mkdirSync(topo.DATA_DIR, { recursive: true, mode: 0o700 });
        // Private keys for ssh -i: 0600 files in a 0700 dir under the harness's data dir (--down removes it).
        this.keyDir = fs.mkdtempSync(path.join(topo.DATA_DIR, "keys-"));
        for (const r of Object.values(this.engine.resources)) {
            if (r.state?.fingerprint && r.inputs?.publicKey) this.rememberKey(r);
        }
    }

    /** Removes the temp key files; called when the `up` ends. */
    cleanup(): void {
        fs.rmSync(this.keyDir, { recursive: true, force: true });
    }

    call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
        throw new Error(`e2e mocks: function ${args.token} is not emulated`);
    }

    async newResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
        const inputs = unsecret(args.inputs);
        const key = `${args.type}::${args.name}`;
        const hash = await inputsHash(inputs);
        const prev = this.engine.resources[key];
        const startedAt = Date.now();
        const entry = (action: JournalEntry["action"], error?: string) =>
            this.journal.push({
                type: args.type,
                name: args.name,
                action,
                startedAt,
                ms: Date.now() - startedAt,
                error,
            });

        if (prev && prev.inputsHash === hash) {
            if (args.type === "digitalocean:index/sshKey:SshKey") this.rememberKey(prev);
            entry("same");
            return { id: prev.id, state: prev.state };
        }
        try {
            const result = await this.apply(args.type, args.name, inputs, prev);
            this.engine.resources[key] = {
                inputsHash: hash,
                id: result.id ?? "",
                state: result.state,
                inputs: storedInputs(args.type, inputs),
            };
            this.save();
            entry(prev ? (result.replaced ? "replace" : "update") : "create");
            return { id: result.id, state: result.state };
        } catch (e) {
            const message = e instanceof Error ? e.message : String(e);
            entry("failed", message);
            throw new Error(message);
        }
    }

    private save(): void {
        fs.writeFileSync(`${MOCK_STATE}.tmp`, JSON.stringify(this.engine), { mode: 0o600 });
        fs.renameSync(`${MOCK_STATE}.tmp`, MOCK_STATE);
    }

    private rememberKey(r: Stored): void {
        this.fingerprints.set(r.state.fingerprint, r.inputs.publicKey);
        this.fingerprints.set(r.id, r.inputs.publicKey);
    }

    private async apply(
        type: string,
        name: string,
        inputs: any,
        prev?: Stored,
    ): Promise<{ id?: string; state: any; replaced?: boolean }> {
        switch (type) {
            case "digitalocean:index/droplet:Droplet":
                return this.droplet(name, inputs, prev);
            case "digitalocean:index/reservedIp:ReservedIp": {
                const address =
                    prev?.state.ipAddress ??
                    `203.0.113.${250 - Object.keys(this.engine.resources).filter((k) => k.startsWith(type)).length}`;
                return { id: address, state: { ...inputs, ipAddress: address, urn: `do:reservedip:${address}` } };
            }
            case "digitalocean:index/reservedIpAssignment:ReservedIpAssignment": {
                const state = topo.loadState()!;
                const host = Object.values(state.hosts).find((h) => h.dropletId === String(inputs.dropletId));
                if (!host) throw new Error(`ReservedIpAssignment: no droplet ${inputs.dropletId}`);
                topo.addPublicAddress(host.name, inputs.ipAddress);
                return { id: `${inputs.ipAddress}-${inputs.dropletId}`, state: inputs };
            }
            case "digitalocean:index/vpc:Vpc": {
                const id = crypto.randomUUID();
                return {
                    id,
                    state: {
                        ...inputs,
                        ipRange: inputs.ipRange ?? "10.116.0.0/20",
                        urn: `do:vpc:${id}`,
                        createdAt: new Date().toISOString(),
                    },
                };
            }
            case "digitalocean:index/sshKey:SshKey": {
                const blob = Buffer.from(String(inputs.publicKey).trim().split(/\s+/)[1], "base64");
                const fingerprint = crypto.createHash("md5").update(blob).digest("hex").match(/../g)!.join(":");
                const id = String(40000000 + Math.floor(Math.random() * 1e6));
                const stored = { inputsHash: "", id, state: { ...inputs, fingerprint }, inputs };
                this.rememberKey(stored);
                return { id, state: stored.state };
            }
            case "tls:index/privateKey:PrivateKey":
                return { id: crypto.randomUUID(), state: { ...inputs, ...this.privateKey(inputs) }, replaced: !!prev };
            case "tls:index/selfSignedCert:SelfSignedCert":
                return {
                    id: crypto.randomUUID(),
                    state: { ...inputs, ...this.selfSignedCert(inputs) },
                    replaced: !!prev,
                };
            case "command:remote:Command":
                return this.command(name, inputs, prev);
            case "command:remote:CopyToRemote":
                return this.copyToRemote(inputs);
            default:
                return { id: `${name}-id`, state: inputs };
        }
    }

    private async droplet(name: string, inputs: any, prev?: Stored) {
        const forcesNew = ["userData", "image", "region", "sshKeys", "vpcUuid"];
        if (prev && forcesNew.every((k) => JSON.stringify(prev.inputs[k]) === JSON.stringify(inputs[k]))) {
            return { id: prev.id, state: { ...prev.state, ...inputs } }; // size/tags/backups: in place
        }
        const keys = (inputs.sshKeys ?? []).map((k: string) => {
            const pub = this.fingerprints.get(String(k));
            if (!pub) throw new Error(`Droplet ${name}: unknown SSH key ${k}`);
            return pub;
        });
        const hostname = inputs.name ?? name;
        if (prev) await topo.destroyHost(prev.state.name ?? name);
        const host = topo.bootDroplet({ name: hostname, userData: inputs.userData ?? "", authorizedKeys: keys });
        await topo.waitForInit(host);
        return {
            id: host.dropletId,
            replaced: !!prev,
            state: {
                ...inputs,
                name: hostname,
                ipv4Address: host.publicIp,
                ipv4AddressPrivate: host.privateIp,
                status: "active",
                urn: `do:droplet:${host.dropletId}`,
                vpcUuid: inputs.vpcUuid,
                createdAt: new Date().toISOString(),
            },
        };
    }

    private privateKey(inputs: any): Record<string, string> {
        const dir = fs.mkdtempSync(path.join(this.keyDir, "tls-"));
        const file = path.join(dir, "key");
        const algorithm = inputs.algorithm ?? "RSA";
        let out: Record<string, string> = {};
        if (algorithm === "ED25519") {
            // OpenSSH here cannot read PKCS8 Ed25519 keys, so the key is made by ssh-keygen (OpenSSH forms only).
            run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", file]);
            out = {
                privateKeyOpenssh: fs.readFileSync(file, "utf8"),
                publicKeyOpenssh: fs.readFileSync(`${file}.pub`, "utf8").trim() + "\n",
            };
        } else {
            const pair =
                algorithm === "ECDSA"
                    ? crypto.generateKeyPairSync("ec", { namedCurve: inputs.ecdsaCurve === "P384" ? "P-384" : "P-256" })
                    : crypto.generateKeyPairSync("rsa", { modulusLength: Number(inputs.rsaBits ?? 2048) });
            const pem = pair.privateKey.export({
                type: algorithm === "ECDSA" ? "sec1" : "pkcs1",
                format: "pem",
            }) as string;
            fs.writeFileSync(file, pem, { mode: 0o600 });
            out = {
                privateKeyPem: pem,
                privateKeyPemPkcs8: pair.privateKey.export({ type: "pkcs8", format: "pem" }) as string,
                publicKeyPem: pair.publicKey.export({ type: "spki", format: "pem" }) as string,
                publicKeyOpenssh: run("ssh-keygen", ["-y", "-f", file]).trim() + "\n",
            };
        }
        const pub = out.publicKeyOpenssh.trim().split(/\s+/)[1];
        const blob = Buffer.from(pub, "base64");
        out.publicKeyFingerprintMd5 = crypto.createHash("md5").update(blob).digest("hex").match(/../g)!.join(":");
        out.publicKeyFingerprintSha256 =
            "SHA256:" + crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
        fs.rmSync(dir, { recursive: true, force: true });
        return out;
    }

    private selfSignedCert(inputs: any): Record<string, string | boolean> {
        const dir = fs.mkdtempSync(path.join(this.keyDir, "cert-"));
        const keyFile = path.join(dir, "key.pem");
        fs.writeFileSync(keyFile, inputs.privateKeyPem, { mode: 0o600 });
        const subject = inputs.subject ?? {};
        const subj =
            [subject.organization && `/O=${subject.organization}`, subject.commonName && `/CN=${subject.commonName}`]
                .filter(Boolean)
                .join("") || "/";
        const san = [
            ...(inputs.dnsNames ?? []).map((d: string) => `DNS:${d}`),
            ...(inputs.ipAddresses ?? []).map((a: string) => `IP:${a}`),
        ];
        const hours = Number(inputs.validityPeriodHours ?? 24);
        const args = [
            "req",
            "-x509",
            "-new",
            "-key",
            keyFile,
            "-subj",
            subj,
            "-days",
            String(Math.max(1, Math.ceil(hours / 24))),
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ];
        if (san.length) args.push("-addext", `subjectAltName=${san.join(",")}`);
        const certPem = run("openssl", args);
        fs.rmSync(dir, { recursive: true, force: true });
        const now = new Date();
        return {
            certPem,
            readyForRenewal: false,
            validityStartTime: now.toISOString(),
            validityEndTime: new Date(now.getTime() + hours * 3600e3).toISOString(),
        };
    }

    private async command(name: string, inputs: any, prev?: Stored) {
        const triggersChanged =
            prev && JSON.stringify(prev.inputs.triggers ?? null) !== JSON.stringify(inputs.triggers ?? null);
        const script: string = prev && !triggersChanged && inputs.update ? inputs.update : inputs.create;
        if (!script) return { id: `${name}-${crypto.randomUUID()}`, state: { ...inputs, stdout: "", stderr: "" } };
        const r = await this.ssh(name, inputs.connection, script, inputs.stdin, inputs.environment);
        if (r.code !== 0) {
            throw new Error(
                `Command ${name}: process exited with status ${r.code}: running ${JSON.stringify(script)}:\n${r.stderr}`,
            );
        }
        const trim = (s: string) => s.replace(/\n$/, "");
        return {
            id: `${name}-${crypto.randomUUID()}`,
            replaced: !!triggersChanged,
            state: { ...inputs, stdout: trim(r.stdout), stderr: trim(r.stderr) },
        };
    }

    private async copyToRemote(inputs: any) {
        const source = inputs.source;
        const local: string | undefined = source instanceof pulumi.asset.FileAsset ? await source.path : undefined;
        if (!local) throw new Error("CopyToRemote: only FileAsset sources are emulated");
        const r = await this.withConnection(inputs.connection, (opts, dest) => [
            "scp",
            "-q",
            ...opts.map((o) => (o === "-p" ? "-P" : o)),
            local,
            `${dest}:${inputs.remotePath}`,
        ]); // scp's port flag is -P
        if (r.code !== 0) throw new Error(`CopyToRemote ${local} -> ${inputs.remotePath}: ${r.stderr}`);
        return { id: `copy-${crypto.randomUUID()}`, state: { ...inputs } };
    }

    private ssh(name: string, connection: any, script: string, stdin?: string, environment?: Record<string, string>) {
        const env = environment ?? {};
        for (const k of Object.keys(env))
            if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`Command ${name}: bad env name ${k}`);
        return this.withConnection(
            connection,
            (opts, dest) => ["ssh", ...opts, ...Object.keys(env).flatMap((k) => ["-o", `SendEnv=${k}`]), dest, script],
            stdin,
            env,
        );
    }

    /** Runs an OpenSSH client in the client namespace, retrying dial errors as pulumi-command does. */
    private async withConnection(
        connection: any,
        argv: (opts: string[], dest: string) => string[],
        stdin?: string,
        env: Record<string, string> = {},
    ): Promise<{ code: number; stdout: string; stderr: string }> {
        if (!connection?.host || !connection.privateKey) throw new Error("connection needs host and privateKey");
        const perDial = Number(connection.perDialTimeout ?? 15);
        const limit = Number(connection.dialErrorLimit ?? 10);
        const opts = this.sshOptions(connection, perDial);
        if (connection.proxy) {
            const p = connection.proxy;
            const proxyOpts = this.sshOptions(p, Number(p.perDialTimeout ?? perDial)).join(" ");
            opts.push("-o", `ProxyCommand=ssh ${proxyOpts} -W %h:%p ${p.user ?? "root"}@${p.host}`);
        }
        const dest = `${connection.user ?? "root"}@${connection.host}`;
        const attempts = limit < 0 ? 120 : Math.max(1, limit);
        let last = { code: 255, stdout: "", stderr: "" };
        for (let i = 0; i < attempts; i++) {
            last = await runIn(topo.CLIENT_NS, argv(opts, dest), stdin, env, 15 * 60e3);
            if (!(last.code === 255 && isDialError(last.stderr))) return last;
            await topo.sleep(1000);
        }
        return { ...last, stderr: `after ${attempts} failed dial attempts: ${last.stderr}` };
    }

    private sshOptions(c: any, perDial: number): string[] {
        const keyFile = path.join(
            this.keyDir,
            `id-${crypto.createHash("sha256").update(String(c.privateKey)).digest("hex").slice(0, 16)}`,
        );
        if (!fs.existsSync(keyFile))
            fs.writeFileSync(keyFile, String(c.privateKey).replace(/\n?$/, "\n"), { mode: 0o600 });
        return [
            "-i",
            keyFile,
            "-p",
            String(c.port ?? 22),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            `ConnectTimeout=${perDial}`,
        ];
    }
}

function isDialError(stderr: string): boolean {
    return /Connection refused|Connection timed out|No route to host|Connection closed|Connection reset|kex_exchange_identification|Permission denied|Could not resolve|Network is unreachable|port 22:/.test(
        stderr,
    );
}

/** Runs argv inside a network namespace the test made; stdin piped, bounded in time. */
export function runIn(
    netns: string,
    argv: string[],
    stdin?: string,
    env: Record<string, string> = {},
    timeoutMs = 60e3,
): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
        const child = spawn("ip", ["netns", "exec", netns, ...argv], {
            env: { ...process.env, ...env },
            stdio: ["pipe", "pipe", "pipe"],
        });
        let stdout = "",
            stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => {
            try {
                process.kill(child.pid!, "SIGKILL");
            } catch {
                /* gone */
            }
        }, timeoutMs);
        child.on("close", (code, signal) => {
            clearTimeout(timer);
            resolve({ code: code ?? (signal ? 128 : 255), stdout, stderr });
        });
        child.stdin.on("error", () => {
            /* remote closed stdin early */
        });
        child.stdin.end(stdin ?? "");
    });
}

function run(cmd: string, args: string[]): string {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    return r.stdout;
}

/** Secrets arrive wrapped ({sig: secret, value}); the emulation needs the plain values. */
function unsecret(v: any): any {
    if (Array.isArray(v)) return v.map(unsecret);
    if (v && typeof v === "object" && !(v instanceof pulumi.asset.Asset) && !(v instanceof pulumi.asset.Archive)) {
        if (v[SIG_KEY] === SECRET_SIG) return unsecret(v.value);
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unsecret(x)]));
    }
    return v;
}

/** Hash of the inputs as the engine would diff them: assets by content. */
async function inputsHash(inputs: any): Promise<string> {
    const canon = async (v: any): Promise<any> => {
        if (v instanceof pulumi.asset.FileAsset) {
            const p = await v.path;
            return { fileAsset: crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex") };
        }
        if (Array.isArray(v)) return Promise.all(v.map(canon));
        if (v && typeof v === "object") {
            const out: Record<string, any> = {};
            for (const k of Object.keys(v).sort()) out[k] = await canon(v[k]);
            return out;
        }
        return v;
    };
    return crypto
        .createHash("sha256")
        .update(JSON.stringify(await canon(inputs)))
        .digest("hex");
}

/** What later diffs need (droplet force-new fields, command triggers, ssh public keys); no assets. */
function storedInputs(type: string, inputs: any): any {
    if (type === "command:remote:CopyToRemote") return { remotePath: inputs.remotePath, triggers: inputs.triggers };
    return JSON.parse(JSON.stringify(inputs));
}
