import * as crypto from "crypto";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as settings from "@pulumi/pulumi/runtime/settings";

/**
 * Shared Pulumi mocks for the unit suite: every registered resource is recorded with its inputs (as the
 * engine would receive them) and with its options (dependsOn, parent, protect) captured by a stack transformation,
 * so tests can assert both what a resource is and what it waits for. `call` throws for any function
 * not mocked, so a program that starts calling the provider fails loudly.
 */

/** A pulumi-command connection as the engine receives it. */
export interface Connection {
    host: string;
    port?: number;
    user?: string;
    privateKey?: string;
    hostKey?: string;
    proxy?: Connection;
    dialErrorLimit?: number;
    perDialTimeout?: number;
}

/**
 * A resource's inputs as the engine received them, secrets unwrapped. The fields the tests read across
 * resource types are typed as the Commands and firewalls have them; on a type without one it is undefined.
 */
export interface Inputs extends Record<string, unknown> {
    create: string;
    update?: string;
    stdin: string;
    triggers: string[];
    connection: Connection;
    environment?: Record<string, string>;
    inboundRules: Record<string, unknown>[];
    outboundRules: Record<string, unknown>[];
}

export interface Recorded {
    type: string;
    name: string;
    inputs: Inputs;
    /** Names of the resources in opts.dependsOn. */
    dependsOn: string[];
    parent?: string;
    /** opts.protect and opts.retainOnDelete as the program set them. */
    protect?: boolean;
    retainOnDelete?: boolean;
    /** opts.hooks: the names of the hooks bound per kind (beforeUpdate, beforeDelete, ...). */
    hooks: Record<string, string[]>;
    custom: boolean;
}

export const recorded: Recorded[] = [];
/** process.hrtime.bigint() of the latest registration (benchmarks time the program up to it). */
export const timing = { lastRegistration: 0n };
const names = new Map<pulumi.Resource, string>();
/** The resource objects by name, as the program made them. */
export const objects = new Map<string, pulumi.Resource>();
const options = new Map<
    string,
    {
        dependsOn: pulumi.Resource[];
        parent?: pulumi.Resource;
        protect?: boolean;
        retainOnDelete?: boolean;
        hooks?: pulumi.ResourceHookBinding;
    }
>();

/** The resource hooks bound to resources, by name. */
export const resourceHooks = new Map<string, pulumi.ResourceHook>();
/** The names of all hooks the program registered with the engine (bound or not). */
export const registeredHooks: string[] = [];
// Pulumi's MockMonitor has no registerResourceHook (the SDK asks the engine to register each hook): this one
// accepts it, so a program with hooks runs under the mocks; the hook objects come from the bindings.
const monitor = MockMonitor.prototype as unknown as Record<string, unknown>;
monitor.registerResourceHook = (req: { getName(): string }, done: (err: Error | null, res: unknown) => void) => {
    registeredHooks.push(req.getName());
    done(null, {});
};
/** The inputs as the program passed them (Outputs keep their secretness here; mock inputs are plain). */
export const props = new Map<string, pulumi.Inputs>();

/** The public key the mocks give the tls.PrivateKey named `name`. */
export function mockPublicKey(name: string): string {
    return `ssh-ed25519 ${Buffer.from(`public ${name}`).toString("base64")}`;
}

/** DigitalOcean's fingerprint of a registered key (MD5, colon-separated), as the mocks give it. */
export function mockFingerprint(publicKey: string): string {
    return (crypto.createHash("md5").update(publicKey).digest("hex").match(/../g) ?? []).join(":");
}

/** Canned outputs per type token, as DigitalOcean and the providers would fill them in. */
function state(type: string, name: string, inputs: Record<string, unknown>, index: number): Record<string, unknown> {
    switch (type) {
        case "digitalocean:index/vpc:Vpc":
            return { ...inputs, ipRange: inputs.ipRange ?? "10.116.0.0/20", urn: `do:vpc:${name}` };
        case "digitalocean:index/droplet:Droplet":
            return {
                ...inputs,
                ipv4Address: `203.0.113.${index}`,
                // Inside the VPC's /20 however many resources came before (bench:program registers 50 droplets).
                ipv4AddressPrivate: `10.116.${index >> 8}.${index & 255}`,
                urn: `do:droplet:${name}`,
                dropletUrn: `do:droplet:${1000 + index}`,
            };
        case "digitalocean:index/reservedIp:ReservedIp":
            return { ...inputs, ipAddress: "198.51.100.10", reservedIpUrn: "do:reservedip:198.51.100.10" };
        case "digitalocean:index/domain:Domain":
            return { ...inputs, domainUrn: `do:domain:${inputs.name}` };
        case "digitalocean:index/dnsRecord:DnsRecord":
            return { ...inputs, fqdn: inputs.name === "@" ? inputs.domain : `${inputs.name}.${inputs.domain}` };
        case "digitalocean:index/databaseCluster:DatabaseCluster": {
            const host = `private-${inputs.name}-0.mongo.example.net`;
            return {
                ...inputs,
                clusterUrn: `do:dbaas:${name}-id`,
                privateHost: host,
                user: "doadmin",
                password: "Mock-Db-Pass",
                privateUri: `mongodb+srv://doadmin:Mock-Db-Pass@${host}/admin?tls=true&authSource=admin&replicaSet=${inputs.name}`,
            };
        }
        case "digitalocean:index/sshKey:SshKey":
            return { ...inputs, fingerprint: mockFingerprint(String(inputs.publicKey)) };
        case "digitalocean:index/databaseUser:DatabaseUser":
            return { ...inputs, password: "Mock-App/Pass", role: "normal" };
        case "tls:index/privateKey:PrivateKey":
            return {
                ...inputs,
                // Shaped like @pulumi/tls's (base64 bodies), each naming its resource.
                publicKeyOpenssh: mockPublicKey(name),
                privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${Buffer.from(`private ${name}`).toString("base64")}\n-----END OPENSSH PRIVATE KEY-----\n`,
                privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${name}\n-----END PRIVATE KEY-----\n`,
            };
        case "tls:index/selfSignedCert:SelfSignedCert":
            return { ...inputs, certPem: `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n` };
        case "command:remote:Command":
            return { ...inputs, stdout: "", stderr: "" };
        default:
            return inputs;
    }
}

const secretSig = "1b47061264138c4ac30d75fd1eb44270";
/** Mock inputs keep nested secrets in their wire form ({sig, value}); tests want the values. */
function plain(value: unknown): unknown {
    if (Array.isArray(value)) return value.map(plain);
    if (value && typeof value === "object") {
        const o = value as Record<string, unknown>;
        if (o["4dabf18193072939515e22adb298388d"] === secretSig) return plain(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, plain(v)]));
    }
    return value;
}

let counter = 0;
export const mocks: pulumi.runtime.Mocks = {
    newResource(args) {
        counter += 1;
        timing.lastRegistration = process.hrtime.bigint();
        const o = options.get(args.name) ?? { dependsOn: [] };
        recorded.push({
            type: args.type,
            name: args.name,
            inputs: plain(args.inputs) as Inputs,
            dependsOn: o.dependsOn.map((r) => names.get(r) ?? "?"),
            parent: o.parent ? names.get(o.parent) : undefined,
            protect: o.protect,
            retainOnDelete: o.retainOnDelete,
            hooks: Object.fromEntries(
                Object.entries(o.hooks ?? {}).map(([kind, hs]) => [
                    kind,
                    (hs as (pulumi.ResourceHook | pulumi.ResourceHookFunction)[]).map((h) =>
                        pulumi.ResourceHook.isInstance(h) ? h.name : "(anonymous)",
                    ),
                ]),
            ),
            custom: args.custom ?? true,
        });
        const id = args.type === "digitalocean:index/droplet:Droplet" ? String(1000 + counter) : `${args.name}-id`;
        return { id, state: state(args.type, args.name, args.inputs, counter) };
    },
    call(args) {
        if (args.token === "digitalocean:index/getDatabaseCa:getDatabaseCa") {
            return {
                clusterId: args.inputs.clusterId,
                id: args.inputs.clusterId,
                certificate: "-----BEGIN CERTIFICATE-----\nmock database CA\n-----END CERTIFICATE-----\n",
            };
        }
        throw new Error(`unexpected provider call ${args.token}`);
    },
};

/** Resets the record and installs the mocks (preview or up); secretKeys as `pulumi config set --secret` marks them. */
export async function useMocks(
    config: Record<string, string> = {},
    preview = false,
    stack = "staging",
    secretKeys: string[] = [],
): Promise<void> {
    recorded.length = 0;
    names.clear();
    objects.clear();
    options.clear();
    props.clear();
    resourceHooks.clear();
    registeredHooks.length = 0;
    counter = 0;
    await pulumi.runtime.setMocks(mocks, "meteor-do", stack, preview);
    pulumi.runtime.setAllConfig(
        Object.fromEntries(Object.entries(config).map(([k, v]) => [`meteor-do:${k}`, v])),
        secretKeys.map((k) => `meteor-do:${k}`),
    );
}

/**
 * Runs `init` as a program: inside a root stack resource (as the engine does), with a transformation that
 * records each resource's options. Returns the stack outputs, resolved.
 */
export async function inStack(init: () => Promise<Record<string, unknown> | void>): Promise<Record<string, unknown>> {
    const outputs = await pulumi.runtime.runInPulumiStack(async () => {
        pulumi.runtime.registerStackTransformation((args) => {
            names.set(args.resource, args.name);
            objects.set(args.name, args.resource);
            props.set(args.name, args.props);
            const dependsOn = args.opts.dependsOn;
            const hooks = args.opts.hooks;
            for (const h of Object.values(hooks ?? {}).flat())
                if (pulumi.ResourceHook.isInstance(h)) resourceHooks.set(h.name, h);
            options.set(args.name, {
                dependsOn: (Array.isArray(dependsOn) ? dependsOn : dependsOn ? [dependsOn] : []) as pulumi.Resource[],
                parent: args.opts.parent,
                protect: args.opts.protect,
                retainOnDelete: args.opts.retainOnDelete,
                hooks,
            });
            return undefined;
        });
        return init();
    });
    await settle();
    const values: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(outputs ?? {})) values[k] = await promiseOf(pulumi.output(v));
    return values;
}

/** Evaluates index.ts afresh (a new module instance) under the mocks with this stack config. */
export async function runProgram(config: Record<string, string>, preview = false): Promise<Record<string, unknown>> {
    await useMocks(config, preview);
    return inStack(freshProgram());
}

/** index.ts's program function from a new module instance (module state as in a fresh `pulumi up`). */
export function freshProgram(): () => Promise<Record<string, unknown>> {
    let program: () => Promise<Record<string, unknown>> = async () => ({});
    jest.isolateModules(() => {
        program = jest.requireActual<typeof import("../../index")>("../../index");
    });
    return program;
}

/**
 * A throwaway bundle for config's `bundle`: a tar.gz whose bundle/star.json records `nodeVersion` as
 * `meteor build` does (null: no star.json). The program reads its sha256 and that version.
 */
export function tempBundle(
    prefix: string,
    nodeVersion: string | null = "22.12.0",
): { dir: string; bundle: string; remove: () => void } {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    const bundle = path.join(dir, "app.tgz");
    fs.mkdirSync(path.join(dir, "bundle"));
    fs.writeFileSync(path.join(dir, "bundle", "main.js"), "// a bundle\n");
    if (nodeVersion !== null)
        fs.writeFileSync(
            path.join(dir, "bundle", "star.json"),
            JSON.stringify({ format: "site-archive-pre1", nodeVersion }),
        );
    execFileSync("tar", ["-czf", bundle, "-C", dir, "bundle"]);
    return { dir, bundle, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Lets every pending registration finish: the SDK's RPC queue drains (registrations and their outputs),
 * and no new resource appears for a while (bounded). A later setMocks must not meet this run's RPCs.
 */
export async function settle(maxMs = 5000): Promise<void> {
    await waitForRPCs();
    const start = Date.now();
    let last = -1;
    let stableRounds = 0;
    while (Date.now() - start < maxMs && stableRounds < 10) {
        await new Promise((r) => setTimeout(r, 5));
        stableRounds = recorded.length === last ? stableRounds + 1 : 0;
        last = recorded.length;
    }
    await waitForRPCs();
}

/** The SDK's own drain of its RPC queue (what disconnect() awaits); internal, so not in its typings. */
const waitForRPCs = (): Promise<void> => (settings as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();

/** Whether an input as the program passed it (a plain value or an Output) is secret. */
export async function isSecretInput(value: unknown): Promise<boolean> {
    return pulumi.Output.isInstance(value) ? pulumi.isSecret(value as pulumi.Output<unknown>) : false;
}

export const promiseOf = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));

export const ofType = (type: string) => recorded.filter((r) => r.type === type);
export const named = (name: string): Recorded => {
    const found = recorded.filter((r) => r.name === name);
    if (found.length !== 1)
        throw new Error(
            `expected one resource named ${name}, found ${found.length}: ${recorded.map((r) => r.name).join(", ")}`,
        );
    return found[0];
};

/** Names of everything `name` waits for: its dependsOn, theirs, and the children of components among them. */
export function waitsFor(name: string): Set<string> {
    const seen = new Set<string>();
    const visit = (n: string) => {
        for (const d of named(n).dependsOn) {
            if (seen.has(d)) continue;
            seen.add(d);
            visit(d);
            for (const child of recorded.filter((r) => r.parent === d)) {
                if (!seen.has(child.name)) {
                    seen.add(child.name);
                    visit(child.name);
                }
            }
        }
    };
    visit(name);
    return seen;
}
