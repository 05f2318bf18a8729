// The droplets of the local topology: systemd-nspawn containers booted from a cached Debian image, each
// in a network namespace of its own with eth0 on the public bridge and eth1 on the VPC bridge.
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { sha256 } from "../../../components/hash";
import { alive, killPid, stopPid } from "../../support/processes";
import { sleep } from "../../support/wait";
import {
    CLIENT_NS,
    cidrHosts,
    DATA_DIR,
    HostRecord,
    ip,
    loadState,
    netnsExists,
    PREFIX,
    PUBLIC_GATEWAY,
    PUBLIC_PREFIX,
    removeCgroup,
    saveState,
    TopologyState,
    toIp,
    updateState,
    VPC_NS,
} from "./topology";

const BOOT_SH = path.join(__dirname, "boot.sh");

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
    return updateState((state) => boot(state, args));
}

function boot(state: TopologyState, args: BootArgs): HostRecord {
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

/** Reboot from inside (systemd reboot); nspawn exits with 133 and we start it again on the same disk. */
export async function rebootHost(name: string, timeoutMs = 30000): Promise<HostRecord> {
    const old = loadState()!.hosts[name];
    hostExec(old, ["systemctl", "reboot"]);
    const end = Date.now() + timeoutMs;
    while (alive(old.pid) && Date.now() < end) await sleep(100);
    if (alive(old.pid)) throw new Error(`${name}: did not go down within ${timeoutMs} ms`);
    const host = updateState((state) => {
        startContainer(state, state.hosts[name]);
        return state.hosts[name];
    });
    await waitForInit(host);
    return host;
}

/**
 * Power off as DigitalOcean's power_off does (a resize, a destroy): no shutdown. The links go down first,
 * so nothing the dying processes send (FIN, RST) reaches the VPC; then everything in the host's cgroup is
 * killed. Returns when it is off.
 */
export async function powerOff(name: string): Promise<void> {
    const state = loadState()!;
    const host = state.hosts[name];
    if (!host) return;
    for (const dev of ["eth0", "eth1"]) ip("-n", host.netns, "link", "set", dev, "down");
    killPid(host.pid, "SIGKILL");
    for (const h of ["systemd", "unified"]) if (host.cgroup) await removeCgroup(`/sys/fs/cgroup/${h}/${host.cgroup}`);
}

/** Powers a host that powerOff stopped on again: links up, a boot from the same disk. */
export async function powerOn(name: string): Promise<HostRecord> {
    const host = updateState((state) => {
        const h = state.hosts[name];
        for (const dev of ["eth0", "eth1"]) ip("-n", h.netns, "link", "set", dev, "up");
        // The default route left with eth0's carrier.
        ip("-n", h.netns, "route", "replace", "default", "via", PUBLIC_GATEWAY);
        startContainer(state, h);
        return h;
    });
    await waitForInit(host);
    return host;
}

export async function destroyHost(name: string): Promise<void> {
    const host = loadState()!.hosts[name];
    if (!host) return;
    await stopPid(host.pid, 15000);
    for (const h of ["systemd", "unified"]) if (host.cgroup) await removeCgroup(`/sys/fs/cgroup/${h}/${host.cgroup}`);
    if (netnsExists(host.netns)) ip("netns", "del", host.netns);
    fs.rmSync(host.upper, { recursive: true, force: true });
    updateState((state) => delete state.hosts[name]);
}
