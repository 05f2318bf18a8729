// The local DigitalOcean-shaped topology: network namespaces, bridges, veths and nspawn "droplets".
//
//   client netns "mdoe2e-client"  (the internet: bridge pub0 203.0.113.1/24, client addresses 198.18.x.y on lo)
//     └─ veth ─ eth0 of every droplet (its public address; the LB also gets the reserved IP here)
//   vpc netns "mdoe2e-vpc"        (the VPC: bridge br0, .254 of vpcIpRange serves the Node.js tarball)
//     └─ veth ─ eth1 of every droplet (its private address)
//
// Nothing here touches this machine's own network namespace: every link lives in namespaces created
// below and recorded in the state file, and `teardown` removes exactly those.
import { execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const PREFIX = "mdoe2e";
export const VPC_NS = `${PREFIX}-vpc`;
export const CLIENT_NS = `${PREFIX}-client`;
export const PUBLIC_GATEWAY = "203.0.113.1";
const PUBLIC_PREFIX = "203.0.113."; // TEST-NET-3: never routed anywhere real
export const CLIENT_ADDRESS_COUNT = 32;
export const DATA_DIR = process.env.METEOR_DO_E2E_DATA ?? "/var/lib/meteor-do-e2e";
export const STATE_FILE = path.join(DATA_DIR, "state.json");
const BOOT_SH = path.join(__dirname, "boot.sh");

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

function ip(...args: string[]): void {
    execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function netnsExists(ns: string): boolean {
    return fs.existsSync(`/run/netns/${ns}`);
}

// IPv4 helpers for vpcIpRange (the range DigitalOcean would carve the private addresses from).
function toInt(a: string): number {
    return a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}
function toIp(n: number): string {
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
    ip("-n", VPC_NS, "link", "add", "br0", "type", "bridge");
    ip("-n", VPC_NS, "addr", "add", `${state.vpcGateway}/${bits}`, "dev", "br0");
    ip("-n", VPC_NS, "link", "set", "br0", "up");
    addNs(CLIENT_NS);
    ip("-n", CLIENT_NS, "link", "set", "lo", "up");
    ip("-n", CLIENT_NS, "link", "add", "pub0", "type", "bridge");
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

function allocate(state: TopologyState): { index: number; privateIp: string; publicIp: string } {
    const index = state.nextIndex++;
    const { first, last } = cidrHosts(state.vpcCidr);
    const privateInt = first + index; // .1 is left out, as DigitalOcean does
    if (privateInt >= last || index > 200) throw new Error("VPC range exhausted");
    return { index, privateIp: toIp(privateInt), publicIp: `${PUBLIC_PREFIX}${10 + index}` };
}

export interface BootArgs {
    name: string;
    userData: string;
    authorizedKeys: string[];
}

/** Boots a droplet from its user-data: NoCloud seed + root's authorized_keys, as DigitalOcean injects them. */
export function bootDroplet(args: BootArgs): HostRecord {
    const state = loadState();
    if (!state) throw new Error("topology not created");
    const { index, privateIp, publicIp } = allocate(state);
    const netns = `${PREFIX}-h${index}`;
    const dropletId = String(400000000 + index);
    const upper = path.join(DATA_DIR, "hosts", `${args.name}-${index}`);
    fs.rmSync(upper, { recursive: true, force: true });
    const host: HostRecord = {
        name: args.name,
        dropletId,
        netns,
        index,
        privateIp,
        publicIp,
        extraPublicIps: [],
        upper,
        pid: 0,
        userDataSha256: sha256(args.userData),
        bootedAt: Date.now(),
    };
    state.hosts[args.name] = host;
    state.namespaces.push(netns);
    saveState(state);

    ip("netns", "add", netns);
    ip("-n", netns, "link", "set", "lo", "up");
    const { bits } = cidrHosts(state.vpcCidr);
    ip("-n", VPC_NS, "link", "add", `h${index}`, "type", "veth", "peer", "name", "eth1", "netns", netns);
    ip("-n", VPC_NS, "link", "set", `h${index}`, "master", "br0", "up");
    ip("-n", CLIENT_NS, "link", "add", `p${index}`, "type", "veth", "peer", "name", "eth0", "netns", netns);
    ip("-n", CLIENT_NS, "link", "set", `p${index}`, "master", "pub0", "up");
    ip("-n", netns, "addr", "add", `${privateIp}/${bits}`, "dev", "eth1");
    ip("-n", netns, "addr", "add", `${publicIp}/24`, "dev", "eth0");
    ip("-n", netns, "link", "set", "eth0", "up");
    ip("-n", netns, "link", "set", "eth1", "up");
    ip("-n", netns, "route", "add", "default", "via", PUBLIC_GATEWAY);

    // The droplet's disk: cloud-init NoCloud seed and the SSH keys DigitalOcean puts in root's account.
    const seed = path.join(upper, "upper/var/lib/cloud/seed/nocloud");
    fs.mkdirSync(seed, { recursive: true });
    fs.writeFileSync(path.join(seed, "meta-data"), `instance-id: i-${dropletId}\nlocal-hostname: ${args.name}\n`, {
        mode: 0o600,
    });
    fs.writeFileSync(path.join(seed, "user-data"), args.userData, { mode: 0o600 });
    fs.mkdirSync(path.join(upper, "upper/root/.ssh"), { recursive: true, mode: 0o700 });
    fs.chmodSync(path.join(upper, "upper/root"), 0o700);
    fs.writeFileSync(
        path.join(upper, "upper/root/.ssh/authorized_keys"),
        args.authorizedKeys.map((k) => k.trim() + "\n").join(""),
        { mode: 0o600 },
    );

    startContainer(state, host);
    state.userDataBooted++;
    saveState(state);
    return host;
}

function startContainer(state: TopologyState, host: HostRecord): void {
    // A cgroup name of its own per boot: a cgroup shared with any other container (even a dead one's
    // leftovers) leaves systemd inside degraded.
    const cgroup = `nspawn-${host.netns}-${Date.now().toString(36)}`;
    for (const h of ["systemd", "unified"]) state.cgroups.push(`/sys/fs/cgroup/${h}/${cgroup}`);
    host.cgroup = cgroup;
    saveState(state);
    const log = fs.openSync(path.join(host.upper, "console.log"), "a");
    const child = spawn(BOOT_SH, [host.name, host.netns, state.image, path.join(host.upper, "upper"), cgroup], {
        detached: true,
        stdio: ["ignore", log, log],
    });
    child.unref();
    fs.closeSync(log);
    host.pid = child.pid!;
    host.bootedAt = Date.now();
}

/** PID of the container's systemd (PID 1 inside), or undefined while it is not up. */
export function initPid(host: HostRecord): number | undefined {
    try {
        const children = fs
            .readFileSync(`/proc/${host.pid}/task/${host.pid}/children`, "utf8")
            .trim()
            .split(/\s+/)
            .filter(Boolean);
        for (const c of children) {
            if (fs.readFileSync(`/proc/${c}/comm`, "utf8").trim() === "systemd") return Number(c);
        }
    } catch {
        /* not (yet / any more) running */
    }
    return undefined;
}

export async function waitForInit(host: HostRecord, timeoutMs = 30000): Promise<number> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
        const p = initPid(host);
        if (p) return p;
        if (!alive(host.pid)) throw new Error(`${host.name}: systemd-nspawn exited; see ${host.upper}/console.log`);
        await sleep(100);
    }
    throw new Error(`${host.name}: no systemd after ${timeoutMs} ms`);
}

/** Runs a command inside a droplet (as the hypervisor would: nsenter into its namespaces). */
export function hostExec(
    host: HostRecord,
    argv: string[],
    input?: string,
): { code: number; stdout: string; stderr: string } {
    const pid = initPid(host);
    if (!pid) return { code: 255, stdout: "", stderr: `${host.name} is not running` };
    const r = spawnSync("nsenter", ["-t", String(pid), "-m", "-u", "-i", "-n", "-p", "--", ...argv], {
        input,
        encoding: "utf8",
        timeout: 60000,
    });
    return { code: r.status ?? 255, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export function alive(pid: number): boolean {
    try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        return !/^\d+ \(.*\) Z/.test(stat);
    } catch {
        return false;
    }
}

export function sleep(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
}

async function stopPid(pid: number, timeoutMs: number): Promise<void> {
    if (!alive(pid)) return;
    try {
        process.kill(pid, "SIGTERM");
    } catch {
        return;
    }
    const end = Date.now() + timeoutMs;
    while (alive(pid) && Date.now() < end) await sleep(100);
    if (alive(pid)) {
        try {
            process.kill(pid, "SIGKILL");
        } catch {
            /* gone */
        }
    }
}

/** Reboot from inside (systemd reboot); nspawn exits with 133 and we start it again on the same disk. */
export async function rebootHost(name: string, timeoutMs = 30000): Promise<HostRecord> {
    const state = loadState()!;
    const host = state.hosts[name];
    hostExec(host, ["systemctl", "reboot"]);
    const end = Date.now() + timeoutMs;
    while (alive(host.pid) && Date.now() < end) await sleep(100);
    if (alive(host.pid)) throw new Error(`${name}: did not go down within ${timeoutMs} ms`);
    startContainer(state, host);
    saveState(state);
    await waitForInit(host);
    return host;
}

export async function destroyHost(name: string): Promise<void> {
    const state = loadState()!;
    const host = state.hosts[name];
    if (!host) return;
    await stopPid(host.pid, 15000);
    for (const h of ["systemd", "unified"]) if (host.cgroup) await removeCgroup(`/sys/fs/cgroup/${h}/${host.cgroup}`);
    if (netnsExists(host.netns)) ip("netns", "del", host.netns);
    fs.rmSync(host.upper, { recursive: true, force: true });
    delete state.hosts[name];
    saveState(state);
}

export function addPublicAddress(name: string, address: string): void {
    const state = loadState()!;
    const host = state.hosts[name];
    if (!host.extraPublicIps.includes(address)) {
        ip("-n", host.netns, "addr", "add", `${address}/32`, "dev", "eth0");
        host.extraPublicIps.push(address);
        saveState(state);
    }
}

export function recordServer(server: ServerRecord): void {
    const state = loadState()!;
    state.servers.push(server);
    saveState(state);
}

/** Removes one of our containers' cgroups; processes still in it (a container whose nspawn had to be
 *  killed) are ours, found by that cgroup, and are killed first. */
async function removeCgroup(dir: string): Promise<void> {
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
        for (const p of pids) {
            try {
                process.kill(Number(p), "SIGKILL");
            } catch {
                /* gone */
            }
        }
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

export function sha256(text: string | Buffer): string {
    return require("crypto").createHash("sha256").update(text).digest("hex");
}
