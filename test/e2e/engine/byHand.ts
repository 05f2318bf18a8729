// A kept stack (E2E_KEEP=1), reached by hand: its deploy keys written out and a description of how to log in
// (topology.json).
import * as fs from "fs";
import * as path from "path";
import { deployUser } from "../../../lib/layout";
import type { LocalStack } from "./stack";
import { Props } from "./state";
import * as topo from "./topology";

/**
 * Writes the deploy keys from the engine's state (0600), for logging in by hand: the LB's (`deploy_key`,
 * returned) and the app hosts' (`deploy_app_key`, beside it).
 */
export function exportDeployKeys(stack: LocalStack): string {
    const resources = stack.engineState().resources;
    for (const [name, file] of [
        ["deploy-key", "deploy_key"],
        ["deploy-app-key", "deploy_app_key"],
    ]) {
        const key = resources[`tls:index/privateKey:PrivateKey::${name}`]?.state.privateKeyOpenssh;
        if (key) fs.writeFileSync(path.join(topo.DATA_DIR, file), String(key), { mode: 0o600 });
    }
    return path.join(topo.DATA_DIR, "deploy_key");
}

/** How to reach the running stack by hand: namespaces, addresses, SSH commands. */
export function describeStack(stack: LocalStack, outputs: Props | undefined, keyFile: string): Record<string, unknown> {
    const lb = stack.lbHost();
    const ip = outputs?.lbReservedIp;
    const common = "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR";
    const sshOpts = `-i ${keyFile} ${common}`;
    const appOpts = `-i ${path.join(path.dirname(keyFile), "deploy_app_key")} ${common}`;
    return {
        clientNamespace: topo.CLIENT_NS,
        vpcNamespace: topo.VPC_NS,
        vpcIpRange: stack.opts.vpcRange,
        site: outputs?.siteUrl,
        checkStatus: outputs?.checkStatusUrl,
        lbPublicIp: ip,
        ssh: {
            user: deployUser,
            keyFile,
            // By hand, host keys are not checked (topology.json is for trying things out).
            lb: `ip netns exec ${topo.CLIENT_NS} ssh ${sshOpts} ${deployUser}@${ip}`,
            // App hosts take their own deploy key, through the LB with the LB's.
            app: `ip netns exec ${topo.CLIENT_NS} ssh ${appOpts} -o ProxyCommand='ssh ${sshOpts} -W %h:%p ${deployUser}@${ip}' ${deployUser}@${stack.appHosts()[0]?.privateIp}`,
        },
        hosts: stack.hosts().map((h) => ({
            name: h.name,
            role: h.name === lb.name ? "lb" : "app",
            netns: h.netns,
            privateIp: h.privateIp,
            publicIp: h.publicIp,
            reservedIps: h.extraPublicIps,
            nspawnPid: h.pid,
        })),
        clientAddresses: topo.clientAddresses(),
    };
}
