import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import { deployUser, toolsDir, unitStopTimeoutSeconds } from "../lib/layout";
import { assertRule, isIpv4 } from "../lib/validate";

/** SSH connection settings of a remote.Command (and of its bastion). */
export type Connection = command.types.input.remote.ConnectionArgs;
export type ProxyConnection = command.types.input.remote.ProxyConnectionArgs;

/**
 * Pure builders of what runs on the hosts: each returns a command string and runs nothing, so tests
 * compare them by exact equality. Data and secrets travel on stdin, never on the command line.
 */

/** Runs a host script from the tools dir as root. Arguments are shell-quoted. */
export function runTool(script: string, ...args: string[]): string {
    if (!/^[a-z0-9-]+\.sh$/.test(script)) throw new Error(`tool name ${JSON.stringify(script)} must look like name.sh`);
    return ["sudo", `${toolsDir}/${script}`, ...args.map(shellQuote)].join(" ");
}

/**
 * The first Command on every droplet: waits for cloud-init to finish, and on failure prints its own
 * account of what went wrong, so later Commands never run on a half-provisioned host.
 */
export function waitForCloudInit(): string {
    return "cloud-init status --wait >/dev/null || { cloud-init status --long; exit 1; }";
}

/** Unpacks the tarball on stdin (components/archive.ts) over the tools dir, as root. */
export function installTools(): string {
    return `sudo install -d -m 0755 ${toolsDir} && base64 -d | sudo tar -xzf - --no-same-owner -C ${toolsDir}`;
}

/** Where an app host reboots after an update that needs it: its window, its peer name and the LB. */
export interface RebootWindow {
    /** HH:MM UTC (lib/layout.ts rebootWindow). */
    window: string;
    peer: string;
    lbPrivateIp: string;
}

/**
 * The app's runtime on an app host: Node.js (checked against SHASUMS256.txt), the unit's drop-ins (the
 * stop timeout, the app's grace period plus time to exit; the address the app listens on, the host's
 * private one; the sandbox and the memory limit) and the host's reboot window.
 */
export function installRuntime(
    nodeVersion: string,
    nodeDistUrl: string,
    stopGraceSeconds: number,
    bindIp: string,
    memoryMax: string,
    reboot: RebootWindow,
): string {
    assertRule({ ok: isIpv4, allowed: "must be an IPv4 address (the host's private address)" }, bindIp, "bindIp");
    return [
        runTool("install-node.sh", nodeVersion, nodeDistUrl),
        runTool("app-unit.sh", String(unitStopTimeoutSeconds(stopGraceSeconds)), bindIp, memoryMax),
        runTool("reboot-window.sh", "install", reboot.window, reboot.peer, reboot.lbPrivateIp),
    ].join(" && ");
}

/** Quotes one shell word; plain words stay as they are so commands stay readable in a diff. */
export function shellQuote(word: string): string {
    if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
    return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * One entry of a Command's `triggers`, labelled (`bundle=<sha256>`), so that `pulumi preview --diff`
 * says in words which input makes the Command run again. A secret value gives a secret entry.
 */
export function trigger(label: string, value: pulumi.Input<string | number>): pulumi.Output<string> {
    return pulumi.interpolate`${label}=${value}`;
}

/** Dial settings for every connection: droplets take a minute to boot; keep dialing meanwhile. */
export const dial = { dialErrorLimit: 60, perDialTimeout: 15 };

/**
 * The SSH connection to a host as the deploy user, optionally through a bastion, accepting only the host
 * key the program made for it (`hostKey`: the bastion could otherwise impersonate an app host and receive
 * the env on stdin).
 */
export function connectionTo(
    host: pulumi.Input<string>,
    privateKey: pulumi.Input<string>,
    proxy: ProxyConnection | undefined,
    hostKey: pulumi.Input<string>,
): Connection {
    return { host, user: deployUser, privateKey, hostKey, ...dial, ...(proxy ? { proxy } : {}) };
}
