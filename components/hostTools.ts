import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as remote from "@pulumi/command/remote";
import { tarGzBase64 } from "./archive";
import { Connection, installTools, trigger, waitForCloudInit } from "./commands";
import { filesHash } from "./hash";
import { renderLayoutSh } from "./hostLayout";

/** components/host/*.sh: the scripts every host gets. */
export const hostScriptsDir = path.join(__dirname, "host");

/** What the tools Command installs: components/host/*.sh and layout.sh, which they source, by name. */
export function hostScripts(): Record<string, string> {
    const files: Record<string, string> = { "layout.sh": renderLayoutSh() };
    for (const name of fs.readdirSync(hostScriptsDir).sort()) {
        if (name.endsWith(".sh")) files[name] = fs.readFileSync(path.join(hostScriptsDir, name), "utf8");
    }
    return files;
}

/**
 * Writes the tools into `dir` as the tools Command installs them on a host (layout.sh included), for
 * running the scripts on this machine: tests, benchmarks, a local LB. Returns `dir`.
 */
export function writeHostTools(dir: string): string {
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, text] of Object.entries(hostScripts())) {
        fs.writeFileSync(path.join(dir, name), text, { mode: 0o755 });
    }
    return dir;
}

/** sha256 over the host scripts: part of the triggers of every Command that runs them. */
export function hostScriptsHash(): string {
    return filesHash(hostScripts());
}

export interface HostReadyArgs {
    connection: Connection;
    /**
     * The droplet's id. It is in the triggers of every Command of the host: a replaced droplet (same
     * reserved IP, maybe the same private IP) must get every Command again, and the preview says why.
     */
    hostId: pulumi.Input<string>;
    /** What must exist before the first dial (e.g. the reserved IP assignment, the bastion's gate). */
    dependsOn?: pulumi.Resource[];
}

/**
 * The first two Commands of every droplet: wait for cloud-init, then install the host scripts.
 * Every later Command of the host depends on `tools`.
 */
export class HostReady extends pulumi.ComponentResource {
    readonly cloudInit: remote.Command;
    readonly tools: remote.Command;
    readonly hostId: pulumi.Output<string>;

    constructor(name: string, args: HostReadyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:host:HostReady", name, {}, opts);
        this.hostId = pulumi.output(args.hostId);
        this.cloudInit = new remote.Command(
            `${name}-cloud-init`,
            {
                connection: args.connection,
                create: waitForCloudInit(),
                triggers: [trigger("droplet", this.hostId)],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: args.dependsOn },
        );

        const scripts = hostScripts();
        this.tools = new remote.Command(
            `${name}-tools`,
            {
                connection: args.connection,
                create: installTools(),
                stdin: tarGzBase64(scripts, 0o755),
                triggers: [trigger("droplet", this.hostId), trigger("scripts", hostScriptsHash())],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [this.cloudInit] },
        );

        this.registerOutputs({ cloudInit: this.cloudInit.id, tools: this.tools.id });
    }
}
