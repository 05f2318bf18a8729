// What each emulated resource type does on create/update (see mocks.ts's header for the list and limits).
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { applyDroplet, removeDroplet } from "./droplets";
import { assignReservedIp } from "./reservedIps";
import { Connection, SshClient } from "./ssh";
import { EngineState, Props, Stored } from "./state";
import { loadState } from "./topology";

export interface Applied {
    id?: string;
    state: Props;
    replaced?: boolean;
}

interface PrivateKeyInputs {
    algorithm?: "RSA" | "ECDSA" | "ED25519";
    ecdsaCurve?: string;
    rsaBits?: number;
}
interface CertInputs {
    privateKeyPem: string;
    subject?: { organization?: string; commonName?: string };
    dnsNames?: string[];
    ipAddresses?: string[];
    validityPeriodHours?: number;
}
interface CommandInputs {
    create?: string;
    update?: string;
    stdin?: string;
    environment?: Record<string, string>;
    triggers?: unknown[];
    connection: Connection;
}
interface CopyInputs {
    source: unknown;
    remotePath: string;
    connection: Connection;
}

const md5Fingerprint = (blob: Buffer) => crypto.createHash("md5").update(blob).digest("hex").match(/../g)!.join(":");

function run(cmd: string, args: string[]): string {
    const r = spawnSync(cmd, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${cmd} failed: ${r.stderr}`);
    return r.stdout;
}

export class Resources {
    /** SSH public keys by DigitalOcean fingerprint and by id, for the droplets' authorized_keys. */
    private readonly publicKeys = new Map<string, string>();
    private readonly ssh: SshClient;

    constructor(
        private readonly engine: EngineState,
        private readonly keyDir: string,
    ) {
        this.ssh = new SshClient(keyDir);
        for (const r of Object.values(engine.resources))
            if (r.state.fingerprint && r.inputs.publicKey) this.rememberKey(r);
    }

    rememberKey(r: Pick<Stored, "id" | "state" | "inputs">): void {
        this.publicKeys.set(String(r.state.fingerprint), String(r.inputs.publicKey));
        this.publicKeys.set(r.id, String(r.inputs.publicKey));
    }

    async apply(type: string, name: string, inputs: Props, prev?: Stored): Promise<Applied> {
        switch (type) {
            case "digitalocean:index/droplet:Droplet":
                return applyDroplet(name, inputs, this.publicKeys, prev);
            case "digitalocean:index/reservedIp:ReservedIp": {
                const taken = Object.keys(this.engine.resources).filter((k) => k.startsWith(type)).length;
                const address = String(prev?.state.ipAddress ?? `203.0.113.${250 - taken}`);
                return { id: address, state: { ...inputs, ipAddress: address, urn: `do:reservedip:${address}` } };
            }
            case "digitalocean:index/reservedIpAssignment:ReservedIpAssignment": {
                const host = Object.values(loadState()!.hosts).find((h) => h.dropletId === String(inputs.dropletId));
                if (!host) throw new Error(`ReservedIpAssignment: no droplet ${inputs.dropletId}`);
                assignReservedIp(String(inputs.ipAddress), host.dropletId);
                return { id: `${inputs.ipAddress}-${inputs.dropletId}`, state: inputs };
            }
            case "digitalocean:index/vpc:Vpc": {
                const id = crypto.randomUUID();
                const ipRange = inputs.ipRange ?? "10.116.0.0/20";
                return { id, state: { ...inputs, ipRange, urn: `do:vpc:${id}`, createdAt: new Date().toISOString() } };
            }
            case "digitalocean:index/sshKey:SshKey": {
                const fingerprint = md5Fingerprint(
                    Buffer.from(String(inputs.publicKey).trim().split(/\s+/)[1], "base64"),
                );
                const id = String(40000000 + Math.floor(Math.random() * 1e6));
                const state = { ...inputs, fingerprint };
                this.rememberKey({ id, state, inputs });
                return { id, state };
            }
            case "tls:index/privateKey:PrivateKey":
                return { id: crypto.randomUUID(), state: { ...inputs, ...this.privateKey(inputs) }, replaced: !!prev };
            case "tls:index/selfSignedCert:SelfSignedCert": {
                const cert = this.selfSignedCert(inputs as CertInputs & Props);
                return { id: crypto.randomUUID(), state: { ...inputs, ...cert }, replaced: !!prev };
            }
            case "command:remote:Command":
                return this.command(name, inputs as CommandInputs & Props, prev);
            case "command:remote:CopyToRemote":
                return this.copyToRemote(inputs as CopyInputs & Props);
            default:
                return { id: `${name}-id`, state: inputs };
        }
    }

    /**
     * A resource that left the program: a Command runs its `delete` (with the inputs it was created with),
     * a droplet is powered off and destroyed; everything else just leaves the state.
     */
    async remove(type: string, name: string, stored: Stored): Promise<void> {
        if (type === "command:remote:Command") {
            const inputs = stored.inputs as unknown as CommandInputs & { delete?: string };
            if (!inputs.delete) return;
            const r = await this.ssh.run(name, inputs.connection, inputs.delete, undefined, inputs.environment);
            if (r.code !== 0)
                throw new Error(`Command ${name}: delete exited with status ${r.code}: ${inputs.delete}:\n${r.stderr}`);
        } else if (type === "digitalocean:index/droplet:Droplet") {
            await removeDroplet(name, stored);
        }
    }

    private privateKey(inputs: PrivateKeyInputs): Record<string, string> {
        const dir = fs.mkdtempSync(path.join(this.keyDir, "tls-"));
        const file = path.join(dir, "key");
        const algorithm = inputs.algorithm ?? "RSA";
        let out: Record<string, string>;
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
            const pem = pair.privateKey.export({ type: algorithm === "ECDSA" ? "sec1" : "pkcs1", format: "pem" });
            fs.writeFileSync(file, pem, { mode: 0o600 });
            out = {
                privateKeyPem: String(pem),
                privateKeyPemPkcs8: String(pair.privateKey.export({ type: "pkcs8", format: "pem" })),
                publicKeyPem: String(pair.publicKey.export({ type: "spki", format: "pem" })),
                publicKeyOpenssh: run("ssh-keygen", ["-y", "-f", file]).trim() + "\n",
            };
        }
        const blob = Buffer.from(out.publicKeyOpenssh.trim().split(/\s+/)[1], "base64");
        out.publicKeyFingerprintMd5 = md5Fingerprint(blob);
        out.publicKeyFingerprintSha256 =
            "SHA256:" + crypto.createHash("sha256").update(blob).digest("base64").replace(/=+$/, "");
        fs.rmSync(dir, { recursive: true, force: true });
        return out;
    }

    private selfSignedCert(inputs: CertInputs): Record<string, string | boolean> {
        const dir = fs.mkdtempSync(path.join(this.keyDir, "cert-"));
        const keyFile = path.join(dir, "key.pem");
        fs.writeFileSync(keyFile, inputs.privateKeyPem, { mode: 0o600 });
        const subject = inputs.subject ?? {};
        const subj =
            [subject.organization && `/O=${subject.organization}`, subject.commonName && `/CN=${subject.commonName}`]
                .filter(Boolean)
                .join("") || "/";
        const san = [
            ...(inputs.dnsNames ?? []).map((d) => `DNS:${d}`),
            ...(inputs.ipAddresses ?? []).map((a) => `IP:${a}`),
        ];
        const hours = Number(inputs.validityPeriodHours ?? 24);
        const days = String(Math.max(1, Math.ceil(hours / 24)));
        const args = ["req", "-x509", "-new", "-key", keyFile, "-subj", subj, "-days", days];
        args.push("-addext", "basicConstraints=critical,CA:FALSE", "-addext", "extendedKeyUsage=serverAuth");
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

    private async command(name: string, inputs: CommandInputs & Props, prev?: Stored): Promise<Applied> {
        const triggersChanged =
            !!prev && JSON.stringify(prev.inputs.triggers ?? null) !== JSON.stringify(inputs.triggers ?? null);
        const script = prev && !triggersChanged && inputs.update ? inputs.update : inputs.create;
        if (!script) return { id: `${name}-${crypto.randomUUID()}`, state: { ...inputs, stdout: "", stderr: "" } };
        const r = await this.ssh.run(name, inputs.connection, script, inputs.stdin, inputs.environment);
        if (r.code !== 0) {
            throw new Error(
                `Command ${name}: process exited with status ${r.code}: running ${JSON.stringify(script)}:\n${r.stderr}`,
            );
        }
        const trim = (s: string) => s.replace(/\n$/, "");
        return {
            id: `${name}-${crypto.randomUUID()}`,
            replaced: triggersChanged,
            state: { ...inputs, stdout: trim(r.stdout), stderr: trim(r.stderr) },
        };
    }

    private async copyToRemote(inputs: CopyInputs & Props): Promise<Applied> {
        const source = inputs.source;
        const local = source instanceof pulumi.asset.FileAsset ? await source.path : undefined;
        if (!local) throw new Error("CopyToRemote: only FileAsset sources are emulated");
        const r = await this.ssh.copy(inputs.connection, local, inputs.remotePath);
        if (r.code !== 0) throw new Error(`CopyToRemote ${local} -> ${inputs.remotePath}: ${r.stderr}`);
        return { id: `copy-${crypto.randomUUID()}`, state: { ...inputs } };
    }
}
