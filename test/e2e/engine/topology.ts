// The local DigitalOcean-shaped topology: network namespaces, bridges, veths and nspawn "droplets".
//
//   client netns "mdoe2e-client"  (the internet: bridge pub0 203.0.113.1/24, client addresses 198.18.x.y on lo)
//     └─ veth ─ eth0 of every droplet (its public address; the LB also gets the reserved IP here)
//   vpc netns "mdoe2e-vpc"        (the VPC: bridge br0, .254 of vpcIpRange serves the Node.js tarball)
//     └─ veth ─ eth1 of every droplet (its private address)
//
// Nothing here touches this machine's own network namespace: every link lives in namespaces created
// below and recorded in the state file, and `teardown` removes exactly those.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { killPid, stopPid } from "../../support/processes";
import { sleep } from "../../support/wait";

// Namespaces and cgroups are named after PREFIX, so a second topology (the local stack, scripts/local.ts) with
// its own prefix and data dir lives beside the e2e's and neither teardown touches the other.
export const PREFIX = process.env.METEOR_DO_E2E_PREFIX ?? "mdoe2e";
export const VPC_NS = `${PREFIX}-vpc`;
export const CLIENT_NS = `${PREFIX}-client`;
export const PUBLIC_GATEWAY = "203.0.113.1";
export const PUBLIC_PREFIX = "203.0.113."; // TEST-NET-3: never routed anywhere real
export const CLIENT_ADDRESS_COUNT = 32;
export const DATA_DIR = process.env.METEOR_DO_E2E_DATA ?? "/var/lib/meteor-do-e2e";
export const STATE_FILE = path.join(DATA_DIR, "state.json");

export interface HostRecord {
    name: string; // droplet name = hostname = machine name
    dropletId: string;
    netns: string;
    index: number;
    privateIp: string;
    publicIp: string;
    extraPublicIps: string[]; // reserved IPs assigned to this droplet
    upper: string; // the droplet's "disk" (overlay upper dir)
    pid: number; // systemd-nspawn
    cgroup?: string; // this boot's cgroup name (under /sys/fs/cgroup/{systemd,unified})
    userDataSha256: string;
    bootedAt: number;
}

export interface ServerRecord {
    name: string;
    pid: number;
    netns: string;
}

export interface TopologyState {
    image: string;
    vpcCidr: string;
    vpcGateway: string;
    nextIndex: number;
    hosts: Record<string, HostRecord>;
    servers: ServerRecord[];
    namespaces: string[];
    cgroups: string[];
    userDataBooted: number;
}

export function loadState(): TopologyState | undefined {
    if (!fs.existsSync(STATE_FILE)) return undefined;
    return JSON.parse(fs.readFileSync(STATE_FILE, "utf8"));
}

export function saveState(state: TopologyState): void {
    fs.mkdirSync(DATA_DIR, { recursive: true, mode: 0o700 });
    const tmp = `${STATE_FILE}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
    fs.renameSync(tmp, STATE_FILE);
}

/** Load, change and save the state file under a lock (doApi.ts moves reserved IPs while an `up` boots
 *  droplets); a lock older than 10 s is a dead holder's and is taken over. */
export function updateState<T>(change: (state: TopologyState) => T): T {
    const lock = `${STATE_FILE}.lock`;
    for (let tries = 0; ; tries++) {
        try {
            fs.closeSync(fs.openSync(lock, "wx"));
            break;
        } catch {
            const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
            if (age > 10000 || tries > 3000) fs.rmSync(lock, { force: true });
            else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        }
    }
    try {
        const state = loadState();
        if (!state) throw new Error("topology not created");
        const result = change(state);
        saveState(state);
        return result;
    } finally {
        fs.rmSync(lock, { force: true });
    }
}

export function ip(...args: string[]): void {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

export function netnsExists(ns: string): boolean {
    return fs.existsSync(`/run/netns/${ns}`);
}

// IPv4 helpers for vpcIpRange (the range DigitalOcean would carve the private addresses from).
function toInt(a: string): number {
    return a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}
export function toIp(n: number): string {
    return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}
export function cidrHosts(cidr: string): { first: number; last: number; bits: number } {
    const [base, bitsText] = cidr.split("/");
    const bits = Number(bitsText);
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(base) || !(bits >= 16 && bits <= 28)) throw new Error(`bad VPC range ${cidr}`);
    const size = 2 ** (32 - bits);
    const network = Math.floor(toInt(base) / size) * size;
    return { first: network + 1, last: network + size - 2, bits };
}

/** Creates (idempotently) the VPC and the client/internet namespaces. */
export function createNetwork(image: string, vpcCidr: string): TopologyState {
    const existing = loadState();
    if (existing) {
        if (existing.vpcCidr !== vpcCidr)
            throw new Error(`topology already up with VPC ${existing.vpcCidr}; run --down first`);
        return existing;
    }
    const { last, bits } = cidrHosts(vpcCidr);
    const state: TopologyState = {
        image,
        vpcCidr,
        vpcGateway: toIp(last),
        nextIndex: 1,
        hosts: {},
        servers: [],
        namespaces: [],
        cgroups: [],
        userDataBooted: 0,
    };
    const addNs = (ns: string) => {
        if (!netnsExists(ns)) ip("netns", "add", ns);
        state.namespaces.push(ns);
        saveState(state); // record before configuring, so --down can clean a half-made topology
    };
    addNs(VPC_NS);
    ip("-n", VPC_NS, "link", "set", "lo", "up");
    // Fixed bridge MACs: a bridge takes its lowest port's MAC, so a new droplet's veth could change the
    // gateway's MAC under every droplet's neighbour entry (10 s of lost replies while they go stale).
    ip("-n", VPC_NS, "link", "add", "br0", "address", "02:00:0a:00:00:fe", "type", "bridge");
    ip("-n", VPC_NS, "addr", "add", `${state.vpcGateway}/${bits}`, "dev", "br0");
    ip("-n", VPC_NS, "link", "set", "br0", "up");
    addNs(CLIENT_NS);
    ip("-n", CLIENT_NS, "link", "set", "lo", "up");
    ip("-n", CLIENT_NS, "link", "add", "pub0", "address", "02:00:cb:00:71:01", "type", "bridge");
    ip("-n", CLIENT_NS, "addr", "add", `${PUBLIC_GATEWAY}/24`, "dev", "pub0");
    ip("-n", CLIENT_NS, "link", "set", "pub0", "up");
    // Client addresses spread over several /24s, as real visitors are (stickiness hashes the full address).
    for (const a of clientAddresses()) ip("-n", CLIENT_NS, "addr", "add", `${a}/32`, "dev", "lo");
    saveState(state);
    return state;
}

export function clientAddresses(): string[] {
    return Array.from({ length: CLIENT_ADDRESS_COUNT }, (_, i) => `198.18.${1 + (i % 8)}.${10 + i}`);
}

export function recordServer(server: ServerRecord): void {
    updateState((state) => state.servers.push(server));
}

/** Removes one of our containers' cgroups; processes still in it (a container whose nspawn had to be
 *  killed) are ours, found by that cgroup, and are killed first. */
export async function removeCgroup(dir: string): Promise<void> {
    if (!fs.existsSync(dir)) return;
    // Deepest first: systemd inside the container leaves its own sub-cgroups behind.
    const dirs: string[] = [];
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name));
        dirs.push(d);
    };
    try {
        walk(dir);
    } catch {
        return;
    }
    for (let round = 0; round < 20; round++) {
        const pids = dirs.flatMap((d) => {
            try {
                return fs.readFileSync(path.join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean);
            } catch {
                return [];
            }
        });
        if (pids.length === 0) break;
        for (const p of pids) killPid(Number(p), "SIGKILL");
        await sleep(100);
    }
    for (const d of dirs) {
        try {
            fs.rmdirSync(d);
        } catch {
            /* still busy or gone */
        }
    }
}

/** Stops every host and server this topology started (by PID) and removes every namespace it made. */
export async function teardown(): Promise<void> {
    const state = loadState();
    if (!state) return sweepLeftovers();
    for (const s of state.servers) await stopPid(s.pid, 5000);
    await Promise.all(Object.values(state.hosts).map((h) => stopPid(h.pid, 15000)));
    for (const cg of state.cgroups) await removeCgroup(cg);
    for (const ns of [...state.namespaces].reverse()) {
        if (netnsExists(ns)) {
            try {
                ip("netns", "del", ns);
            } catch {
                /* already gone */
            }
        }
    }
    fs.rmSync(path.join(DATA_DIR, "hosts"), { recursive: true, force: true });
    for (const f of fs.readdirSync(DATA_DIR))
        if (f.startsWith("keys-")) fs.rmSync(path.join(DATA_DIR, f), { recursive: true, force: true });
    fs.rmSync(STATE_FILE, { force: true });
    await sweepLeftovers();
}

/** What an earlier run left without a state file (killed hard): only names with this harness's prefix. */
async function sweepLeftovers(): Promise<void> {
    for (const h of ["systemd", "unified"]) {
        const root = `/sys/fs/cgroup/${h}`;
        if (!fs.existsSync(root)) continue;
        for (const d of fs.readdirSync(root))
            if (d.startsWith(`nspawn-${PREFIX}-`)) await removeCgroup(path.join(root, d));
    }
    for (const ns of fs.existsSync("/run/netns") ? fs.readdirSync("/run/netns") : []) {
        if (ns.startsWith(`${PREFIX}-`)) {
            try {
                ip("netns", "del", ns);
            } catch {
                /* busy or gone */
            }
        }
    }
}
