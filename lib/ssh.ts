// How `npm run ops` and the LB droplets' handover hooks reach the hosts: OpenSSH with a per-stack ssh_config
// (written next to a per-stack known_hosts file), the load balancer as the bastion (ProxyJump) for the app hosts.
//
// Host keys: each host is known under an alias made of its droplet id, so a replaced droplet (new id,
// maybe the same address) is a new entry instead of a "host key changed" alarm, and a changed key on the
// same droplet is refused. The program makes every droplet's host key and publishes the public halves in
// the stack's `ops` output: they are written to known_hosts under the same aliases and nothing else is
// accepted (`hostKeyPolicy: "pinned"`). A stack deployed before that has none: the first connection to a
// droplet then records its key (StrictHostKeyChecking accept-new).
import * as os from "os";
import * as path from "path";

export type HostKeyPolicy = "accept-new" | "pinned";

/** A droplet as ssh reaches it. */
export interface SshHost {
    /** The program's name of the host (app-1) and the droplet's name in DigitalOcean. */
    name: string;
    droplet: string;
    dropletId: string;
    privateIp: string;
    /** The SSH host key the program made for the droplet (`ssh-ed25519 AAAA...`): pinned in known_hosts. */
    hostKey?: string;
}

/**
 * What ssh needs of a stack: its LBs (at their own public addresses), app hosts (through lb) and the
 * user to log in as (ops: the operator user; the LB droplets' handover hooks: the deploy user).
 */
export interface SshTarget {
    /** The stack's name, for messages and the per-stack ssh files. */
    stack: string;
    lb: SshHost & { publicIp: string };
    /** lbCount 2: both LBs (lb, lb-1), each at its droplet's own public address. */
    lbs?: (SshHost & { publicIp: string })[];
    /** App hosts in roll order. */
    hosts: SshHost[];
    user: string;
}

export interface SshFiles {
    /** Directory of the per-stack files (ssh_config, known_hosts). */
    dir: string;
    config: string;
    knownHosts: string;
}

/** Per-stack files under $METEOR_DO_OPS_DIR or ~/.config/meteor-do/ops/<stack>/. */
export function sshFiles(stack: string, baseDir?: string): SshFiles {
    const base = baseDir ?? process.env.METEOR_DO_OPS_DIR ?? path.join(os.homedir(), ".config", "meteor-do", "ops");
    const dir = path.join(base, stack.replace(/[^A-Za-z0-9._-]+/g, "_"));
    return { dir, config: path.join(dir, "ssh_config"), knownHosts: path.join(dir, "known_hosts") };
}

/**
 * known_hosts with the program's host keys under each host's alias, when the stack output has them for
 * every host (else undefined: the first connection records each key, accept-new).
 */
export function pinnedKnownHosts(t: SshTarget): string | undefined {
    const all = [t.lb, ...(t.lbs ?? []).filter((l) => l.name !== "lb"), ...t.hosts];
    if (!all.every((h) => h.hostKey)) return undefined;
    return all.map((h) => `${hostKeyAlias(h)} ${h.hostKey}\n`).join("");
}

/** The alias a host's key is recorded under in known_hosts. */
export function hostKeyAlias(h: SshHost): string {
    return `meteor-do-droplet-${h.dropletId}`;
}

export interface SshConfigOptions {
    knownHosts: string;
    /** A private key to use instead of the agent's and ssh's defaults. */
    identity?: string;
    hostKeyPolicy?: HostKeyPolicy;
}

/**
 * The ssh_config of a stack: `lb` and each app host by the program's name (and droplet name). Specific
 * blocks come before `Host *`, as ssh takes the first value it finds. Holds no secret.
 */
export function sshConfig(t: SshTarget, o: SshConfigOptions): string {
    const q = (p: string) => `"${p.replace(/(["\\])/g, "\\$1")}"`;
    const block = (h: SshHost, address: string, jump: boolean) =>
        [
            `Host ${h.name} ${h.droplet}`,
            `    HostName ${address}`,
            `    HostKeyAlias ${hostKeyAlias(h)}`,
            ...(jump ? ["    ProxyJump lb"] : []),
        ].join("\n");
    return [
        `# meteor-do ops: stack ${t.stack} (written by \`npm run ops\`; no secrets)`,
        // Two LBs: each at its droplet's own address (the reserved IP may be on the other one).
        block({ ...t.lb, name: "lb" }, t.lbs?.find((l) => l.name === "lb")?.publicIp ?? t.lb.publicIp, false),
        ...(t.lbs ?? []).filter((l) => l.name !== "lb").map((l) => block(l, l.publicIp, false)),
        ...t.hosts.map((h) => block(h, h.privateIp, true)),
        "Host *",
        `    User ${t.user}`,
        `    UserKnownHostsFile ${q(o.knownHosts)}`,
        `    StrictHostKeyChecking ${(o.hostKeyPolicy ?? "accept-new") === "pinned" ? "yes" : "accept-new"}`,
        "    GlobalKnownHostsFile /dev/null",
        "    UpdateHostKeys no",
        ...(o.identity ? [`    IdentityFile ${q(o.identity)}`, "    IdentitiesOnly yes"] : []),
        "    ConnectTimeout 15",
        "    ServerAliveInterval 15",
        "    ServerAliveCountMax 4",
        "    LogLevel ERROR",
        "",
    ].join("\n");
}

/** argv of one ssh run: non-interactive unless `tty` (an operator's shell). */
export function sshArgv(configFile: string, host: string, command?: string, tty = false): string[] {
    return [
        "ssh",
        "-F",
        configFile,
        ...(tty ? ["-t"] : ["-o", "BatchMode=yes", "-T"]),
        host,
        ...(command === undefined ? [] : [command]),
    ];
}
