import * as pulumi from "@pulumi/pulumi";
import * as command from "@pulumi/command";
import * as remote from "@pulumi/command/remote";
import { tarGzBase64 } from "./archive";
import { runTool, trigger } from "./commands";
import { filesHash } from "./hash";
import { assertRule, rules } from "../lib/validate";
import { checkStackSettings, renderNginx } from "../nginx/render";
import { productionView, ProductionSite } from "../nginx/views";

/** The production view's values that are Pulumi Outputs here (addresses the engine fills in). */
type Unknown = "peers" | "peerNames" | "lbPrivateIp" | "vpcCidr" | "serverName" | "otherLbPrivateIp" | "lbName";

/** What nginx/views.ts `productionView` takes, as Inputs, and how to reach and order the push. */
export interface LbConfigArgs extends Omit<ProductionSite, Unknown> {
    connection: command.types.input.remote.ConnectionArgs;
    /** App droplets' private IPs, in host order. */
    peers: pulumi.Input<pulumi.Input<string>[]>;
    /** App droplets' names, in the same order (the status page shows them). */
    peerNames?: pulumi.Input<pulumi.Input<string>[]>;
    lbPrivateIp: pulumi.Input<string>;
    /** lbCount 2: the other LB's private IP. */
    otherLbPrivateIp?: pulumi.Input<string>;
    /** lbCount 2: this LB's droplet name (the status page names it with its role). */
    lbName?: pulumi.Input<string>;
    vpcCidr: pulumi.Input<string>;
    serverName: pulumi.Input<string>;
    /** The host's tools Command and the TLS Command. */
    dependsOn: pulumi.Resource[];
    /**
     * The LB droplet's id (HostReady.hostId). When set it leads the push's triggers, so a replaced
     * droplet gets its configuration again even though no file changed.
     */
    hostId?: pulumi.Input<string>;
}

/**
 * The nginx configuration of the LB droplet: renders nginx/ for the app peers and pushes it with
 * lb-push.sh (validate, trial start, atomic swap, reload). `push` is what later steps wait for.
 */
export class LbConfig extends pulumi.ComponentResource {
    readonly push: remote.Command;
    readonly filesHash: pulumi.Output<string>;

    constructor(name: string, args: LbConfigArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:lb:LbConfig", name, {}, opts);
        // The same rules renderNginx applies once the Outputs are known, checked now so a preview fails.
        assertRule(rules.appPort, args.appPort, "appPort");
        assertRule(rules.appPortFree, args.appPort, "appPort");
        checkStackSettings(args);
        for (const c of args.adminCidrs) assertRule(rules.narrowCidr, c, "adminCidrs entry");

        const files = pulumi
            .all([
                args.peers,
                args.peerNames,
                args.lbPrivateIp,
                args.vpcCidr,
                args.serverName,
                args.otherLbPrivateIp,
                args.lbName,
            ])
            .apply(([peers, peerNames, lbPrivateIp, vpcCidr, serverName, otherLbPrivateIp, lbName]) =>
                renderNginx(
                    productionView({
                        ...args,
                        peers,
                        peerNames,
                        lbPrivateIp,
                        vpcCidr,
                        serverName,
                        otherLbPrivateIp,
                        lbName,
                    }),
                ),
            );
        this.filesHash = files.apply(filesHash);

        this.push = new remote.Command(
            `${name}-push`,
            {
                connection: args.connection,
                create: runTool("lb-push.sh"),
                stdin: files.apply((f) => tarGzBase64(f)),
                triggers: [
                    ...(args.hostId === undefined ? [] : [trigger("droplet", args.hostId)]),
                    trigger("nginx", this.filesHash),
                ],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: args.dependsOn },
        );

        this.registerOutputs({ push: this.push, filesHash: this.filesHash });
    }
}
