// Operator access for `npm run ops`: the people in operatorSshKeys log in as the `operator` user on the
// LB and, through it, on the app hosts. Installed by a Command per host (operator.sh), not user-data, so
// adding or removing a key changes a file instead of replacing every droplet.
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as remote from "@pulumi/command/remote";
import { operatorUser } from "../lib/layout";
import { assertRule, rules } from "../lib/validate";
import type { AppHost } from "./appServers";
import { Connection, runTool, trigger } from "./commands";
import type { Bundle } from "./config";
import type { RollingDeploy } from "./deploy";
import type { HostReady } from "./hostTools";
import type { LoadBalancerHost } from "./loadBalancer";
import { sha256 } from "./hash";

/** Installs the operator user with these keys on one host (the keys, public, on stdin). */
export function operatorCommand(role: "app" | "lb"): string {
    return runTool("operator.sh", role);
}

export interface OperatorAccessArgs {
    /** OpenSSH public key lines (validated by config); none leaves the user without a way in. */
    keys: string[];
    lb: LoadBalancerHost;
    /** lbCount 2: lb-1, where ops also log in (ops failover). */
    otherLbs?: LoadBalancerHost[];
    apps: AppHost[];
}

export class OperatorAccess extends pulumi.ComponentResource {
    readonly commands: remote.Command[];

    constructor(name: string, args: OperatorAccessArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:ops:OperatorAccess", name, {}, opts);
        args.keys.forEach((k, i) => assertRule(rules.publicKey, k, `OperatorAccess keys[${i}]`));
        const keys = args.keys.map((k) => `${k}\n`).join("");
        const script = fs.readFileSync(path.join(__dirname, "host", "operator.sh"), "utf8");
        const hosts: { name: string; role: "app" | "lb"; connection: Connection; ready: HostReady }[] = [
            { name: "lb", role: "lb", connection: args.lb.connection, ready: args.lb.ready },
            ...(args.otherLbs ?? []).map((l) => ({
                name: l.hostName,
                role: "lb" as const,
                connection: l.connection,
                ready: l.ready,
            })),
            ...args.apps.map((h) => ({ name: h.name, role: "app" as const, connection: h.connection, ready: h.ready })),
        ];
        this.commands = hosts.map(
            (h) =>
                new remote.Command(
                    `${h.name}-operators`,
                    {
                        connection: h.connection,
                        create: operatorCommand(h.role),
                        stdin: keys,
                        triggers: [
                            trigger("droplet", h.ready.hostId),
                            trigger("operators", sha256(keys)),
                            trigger("script", sha256(script)),
                        ],
                        addPreviousOutputInEnv: false,
                    },
                    { parent: this, dependsOn: [h.ready.tools] },
                ),
        );
        this.registerOutputs({});
    }
}

export type OpsOutput = ReturnType<typeof opsOutput>;

/**
 * The stack output `npm run ops` reads (ops/target.ts): host names and addresses, the operator user,
 * the hosts' public SSH host keys (pinned by ops), the release, and the settings of a cutover so a rollback
 * uses the same gate. Nothing secret.
 */
export function opsOutput(a: {
    lb: LoadBalancerHost;
    /** lbCount 2: both LBs (each at its droplet's own address: the reserved IP moves). */
    lbs?: LoadBalancerHost[];
    apps: AppHost[];
    appPort: number;
    bundle: Bundle;
    deploy: RollingDeploy;
}) {
    return {
        lb: {
            name: "lb",
            droplet: a.lb.droplet.name,
            dropletId: a.lb.droplet.id,
            publicIp: a.lb.publicIp,
            privateIp: a.lb.privateIp,
            hostKey: a.lb.hostKey,
        },
        ...(a.lbs && a.lbs.length > 1
            ? {
                  lbs: a.lbs.map((l) => ({
                      name: l.hostName,
                      droplet: l.droplet.name,
                      dropletId: l.droplet.id,
                      publicIp: l.dropletIp,
                      privateIp: l.privateIp,
                      hostKey: l.hostKey,
                  })),
              }
            : {}),
        hosts: a.apps.map((h) => ({
            name: h.name,
            droplet: h.droplet.name,
            dropletId: h.droplet.id,
            privateIp: h.privateIp,
            hostKey: h.hostKey,
        })),
        user: operatorUser,
        appPort: a.appPort,
        release: a.deploy.deployedSha256,
        bundle: a.bundle.sha256,
        cutover: a.deploy.cutoverSettings,
    };
}
