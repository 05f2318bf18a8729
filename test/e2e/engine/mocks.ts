// ┌──────────────────────────────────────────────────────────────────────────────────────────────────┐
// │ The one place where the e2e harness stands in for DigitalOcean and the Pulumi engine.            │
// └──────────────────────────────────────────────────────────────────────────────────────────────────┘
// pulumi.runtime.setMocks with these answers; the program under test is the unmodified index.ts. The engine's
// memory is state.ts, the SSH client ssh.ts, and what each resource type does resources.ts.
//
// EMULATED
//  - digitalocean Droplet: boots a Debian 12 host (topology.ts, hosts.ts) from the droplet's own `userData`
//    (cloud-init NoCloud seed, instance-id per droplet) with the public keys of its `sshKeys` in root's
//    authorized_keys, as DigitalOcean injects them. Returns id, ipv4Address (public side),
//    ipv4AddressPrivate (from the VPC's ipRange), status. A change of userData/image/region/sshKeys/
//    vpcUuid replaces the droplet (new host, new addresses, old host stopped), as DigitalOcean forces.
//  - ReservedIp: an address on the public side, on no droplet until assigned; ReservedIpAssignment puts it
//    on the droplet's eth0 (and off any other). Deleting an assignment leaves the address where it is (as
//    `retainOnDelete` does; DigitalOcean would unassign it otherwise).
//  - The DigitalOcean API, for what runs on the droplets (doApi.ts, a server on the public side): a
//    reserved IP's holder, its assign/unassign actions and their status, with the stack's
//    failoverApiToken as bearer token (401 otherwise); an action moves the address between droplets'
//    eth0 (the client side sees the move at once) and completes a configurable delay after the request.
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
//  - Host keys: a connection's `hostKey` is the only key its ssh accepts (a known_hosts of one line), as
//    pulumi-command checks it.
//  - Cloud Firewalls (firewall.ts): the program's Firewall resources' inbound rules as nftables in the
//    namespace of every droplet that carries one of their tags (source tags resolved to those droplets'
//    addresses), stateful, default drop; applied again whenever a droplet, a firewall or a reserved IP
//    assignment changes. Outbound rules are not emulated (the program opens them all).
//  - Everything else (components, Tag, ...): inputs echoed as state.
//  - Deletes: after a successful `up`, what the state holds and the program no longer registered is
//    deleted, dependents first as Pulumi does: Commands run their `delete` (with the inputs they were
//    created with, so on the host while it still exists), then droplets are powered off and destroyed.
//  - Droplet resize: a new `size` powers the host off (links down, processes killed: DigitalOcean's
//    power_off, no shutdown), keeps it off 2 s, and boots it again from the same disk.
//  - Resource hooks (hooks.ts): the program's RegisterResourceHook and each resource's hook binding are
//    recorded; before a droplet's update its beforeUpdate hooks, before its delete (removed, or replaced)
//    the beforeDelete hooks its last registration bound (kept in the state), each called over gRPC on the
//    program's callback server as the engine calls them (secret inputs sent as secrets); a hook's error
//    fails the step. The program runs
//    in the root namespace: its hooks' `ssh` is a shim that runs OpenSSH in the client namespace (up.ts).
//  - getDroplet by name (an invoke): the state's droplet of that name (exactly one, else an error).
//
// NOT EMULATED
//  - DigitalOcean's API validation, the metrics agent, backups, the metadata service; any other API
//    endpoint (the fake answers 404), TLS on the API (plain HTTP here).
//  - Hooks other than beforeUpdate/beforeDelete on droplets; a replaced droplet's beforeDelete runs before
//    the replacement boots (the emulation destroys first; Pulumi creates first and deletes at the end).
//  - Replacement ordering (the replaced droplet's Commands' `delete` does not run), the order of deletes
//    beyond "Commands, then the rest, then droplets", and the engine's stop-on-first-error (independent
//    resources keep going; dependents of a failure never run).
//  - addPreviousOutputInEnv, `logging`, customTimeouts (a Command is killed after 15 minutes).
//  - `pulumi preview` and its diff; additionalSecretOutputs (mocks never apply it); provider functions
//    and StackReference reads (`call` throws); PEM forms of ED25519 keys (OpenSSH forms only).
//  - The droplet image is close to, not the same as, DigitalOcean's debian-12-x64: see image.sh for
//    what it adds (packages pre-installed, no apt sources, cloud-init locale/network/datasource drop-in).
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { dropletReplaced } from "./droplets";
import { applyFirewalls, emulatedTypes } from "./firewall";
import { bindingOf, emulateHooks, HookBinding, runHooks } from "./hooks";
import { Resources } from "./resources";
import {
    EngineState,
    inputsHash,
    JournalEntry,
    loadEngineState,
    Props,
    saveEngineState,
    secretKeys,
    Stored,
    storedInputs,
    unsecret,
} from "./state";
import { DATA_DIR } from "./topology";

const DROPLET = "digitalocean:index/droplet:Droplet";

export class E2eMocks implements pulumi.runtime.Mocks {
    readonly journal: JournalEntry[] = [];
    /** What this `up`'s program registered (type::name); the rest of the state is deleted at the end. */
    private readonly registered = new Set<string>();
    private readonly engine: EngineState;
    private readonly keyDir: string;
    private readonly resources: Resources;

    constructor() {
        this.engine = loadEngineState();
        fs.mkdirSync(DATA_DIR, { recursive: true, mode: 0o700 });
        // Private keys for ssh -i: 0600 files in a 0700 dir under the harness's data dir (--down removes it).
        this.keyDir = fs.mkdtempSync(path.join(DATA_DIR, "keys-"));
        this.resources = new Resources(this.engine, this.keyDir);
        emulateHooks();
    }

    /** Removes the temp key files; called when the `up` ends. */
    cleanup(): void {
        fs.rmSync(this.keyDir, { recursive: true, force: true });
    }

    /** Deletes what the program no longer has, dependents first (see EMULATED); failures stay in the state. */
    async deleteRemoved(): Promise<void> {
        const rank = (key: string) =>
            key.startsWith("command:remote:") ? 0 : key.startsWith("digitalocean:index/droplet:Droplet::") ? 2 : 1;
        const gone = Object.keys(this.engine.resources).filter((k) => !this.registered.has(k));
        for (const r of [0, 1, 2]) {
            await Promise.all(
                gone
                    .filter((k) => rank(k) === r)
                    .map(async (key) => {
                        const [type, name] = key.split("::");
                        const startedAt = Date.now();
                        let error: string | undefined;
                        const stored = this.engine.resources[key];
                        try {
                            const call = {
                                type,
                                name,
                                id: stored.id,
                                oldInputs: stored.inputs,
                                oldOutputs: stored.state,
                            };
                            await runHooks("beforeDelete", stored.hooks ?? [], call);
                            await this.resources.remove(type, name, stored);
                            delete this.engine.resources[key];
                            saveEngineState(this.engine);
                        } catch (e) {
                            error = e instanceof Error ? e.message : String(e);
                        }
                        const action = error ? "failed" : "delete";
                        this.journal.push({ type, name, action, startedAt, ms: Date.now() - startedAt, error });
                    }),
            );
            // Pulumi stops deleting at the first failure: a droplet whose retire failed stays.
            if (this.journal.some((j) => j.action === "failed")) return;
        }
    }

    call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
        if (args.token === "digitalocean:index/getDroplet:getDroplet") {
            // By name, as DigitalOcean finds it: exactly one droplet, or an error.
            const found = Object.entries(this.engine.resources).filter(
                ([k, r]) => k.startsWith(`${DROPLET}::`) && r.state.name === args.inputs.name,
            );
            if (found.length !== 1) throw new Error(`getDroplet: ${found.length} droplets named ${args.inputs.name}`);
            return { ...found[0][1].state, id: Number(found[0][1].id) };
        }
        throw new Error(`e2e mocks: function ${args.token} is not emulated`);
    }

    /** A droplet's hooks before the engine changes it: beforeUpdate, or beforeDelete of the one replaced. */
    private async beforeDropletChange(
        name: string,
        prev: Stored,
        inputs: Props,
        binding: HookBinding,
        secret: string[],
    ) {
        const old = {
            type: DROPLET,
            name,
            id: prev.id,
            oldInputs: prev.inputs,
            oldOutputs: prev.state,
            secretKeys: secret,
        };
        if (dropletReplaced(prev, inputs)) await runHooks("beforeDelete", prev.hooks ?? [], old);
        else await runHooks("beforeUpdate", binding.beforeUpdate ?? [], { ...old, newInputs: inputs });
    }

    async newResource(args: pulumi.runtime.MockResourceArgs): Promise<pulumi.runtime.MockResourceResult> {
        const inputs = unsecret(args.inputs) as Props;
        const key = `${args.type}::${args.name}`;
        const hash = await inputsHash(inputs);
        const prev = this.engine.resources[key];
        this.registered.add(key);
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

        const binding = bindingOf(key);
        const deleteHooks = binding.beforeDelete?.length ? binding.beforeDelete : undefined;
        if (prev && prev.inputsHash === hash) {
            if (args.type === "digitalocean:index/sshKey:SshKey") this.resources.rememberKey(prev);
            // The state keeps the hooks of the latest registration (for a later delete).
            if (JSON.stringify(prev.hooks) !== JSON.stringify(deleteHooks)) {
                prev.hooks = deleteHooks;
                saveEngineState(this.engine);
            }
            entry("same");
            return { id: prev.id, state: prev.state };
        }
        try {
            if (prev && args.type === DROPLET)
                await this.beforeDropletChange(args.name, prev, inputs, binding, secretKeys(args.inputs));
            const result = await this.resources.apply(args.type, args.name, inputs, prev);
            this.engine.resources[key] = {
                inputsHash: hash,
                id: result.id ?? "",
                state: result.state,
                inputs: storedInputs(args.type, inputs),
                hooks: deleteHooks,
            };
            saveEngineState(this.engine);
            if (emulatedTypes.includes(args.type)) applyFirewalls(this.engine);
            entry(prev ? (result.replaced ? "replace" : "update") : "create");
            return { id: result.id, state: result.state };
        } catch (e) {
            const message = e instanceof Error ? e.message : String(e);
            entry("failed", message);
            throw new Error(message);
        }
    }
}
