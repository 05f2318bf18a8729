import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import * as remote from "@pulumi/command/remote";
import { lbUserData } from "./cloudInit";
import { debianDroplet, DropletBaseArgs, hostKey } from "./droplet";
import { sha256 } from "./hash";
import { Connection, connectionTo, runTool, trigger } from "./commands";
import { HostReady } from "./hostTools";

/** A certificate chain and its (secret) private key, as PEM. */
export interface CertificatePair {
    certificatePem: pulumi.Input<string>;
    privateKeyPem: pulumi.Input<string>;
}

export interface LoadBalancerHostArgs extends DropletBaseArgs {
    dropletName: string;
    /**
     * The certificate nginx serves, made from the reserved IP (a self-signed certificate names the IP
     * when there is no domain): called once, when the IP exists. `<name>-tls` installs what it returns.
     */
    certificate: (publicIp: pulumi.Output<string>) => CertificatePair;
    /** Pulumi `protect` on the reserved IP: deleting or replacing it fails until lifted. */
    protectReservedIp: boolean;
    /**
     * lbCount 2: the reserved IP moves between the LBs (keepalived assigns it, components/failover.ts), so
     * there is no ReservedIpAssignment and Commands reach the droplet's own public address. The first LB
     * makes the reserved IP; the second is given it here.
     */
    standby?: { reservedIp?: digitalocean.ReservedIp };
    /** lbCount 2: the droplet's handover hooks (components/lbHandover.ts) and what it is changed after. */
    dropletOptions?: Pick<pulumi.CustomResourceOptions, "hooks" | "dependsOn">;
}

/**
 * The load-balancer droplet and its public face: a reserved IP (kept when the droplet is replaced), the
 * SSH connection every LB Command uses (and app Commands use as their bastion), the two first Commands
 * (cloud-init gate, host scripts) and the certificate's install. The nginx configuration is pushed by LbConfig.
 */
export class LoadBalancerHost extends pulumi.ComponentResource {
    /** The component's name (lb, lb-1): its Commands' names start with it. */
    readonly hostName: string;
    readonly droplet: digitalocean.Droplet;
    readonly reservedIp: digitalocean.ReservedIp;
    /** The reserved IP's address: the site's. */
    readonly publicIp: pulumi.Output<string>;
    /** The droplet's own public IPv4 address. */
    readonly dropletIp: pulumi.Output<string>;
    readonly privateIp: pulumi.Output<string>;
    readonly connection: Connection;
    /** The droplet's SSH host key (public half), pinned on every connection to it. */
    readonly hostKey: pulumi.Output<string>;
    readonly ready: HostReady;
    /** write-tls.sh: the certificate and key are where nginx reads them. */
    readonly certificateInstalled: remote.Command;

    constructor(name: string, args: LoadBalancerHostArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:lb:LoadBalancerHost", name, {}, opts);
        this.hostName = name;
        const parent = { parent: this };
        const key = hostKey(`${name}`, parent);
        this.hostKey = key.publicKeyOpenssh;
        const userData = pulumi
            .all([args.deployPublicKey, key.privateKeyOpenssh, key.publicKeyOpenssh])
            .apply(([deployPublicKey, privateKeyOpenssh, publicKeyOpenssh]) =>
                lbUserData({ deployPublicKey, hostKey: { privateKeyOpenssh, publicKeyOpenssh } }),
            );
        this.droplet = debianDroplet(`${name}-droplet`, args.dropletName, args, userData, {
            ...parent,
            ...args.dropletOptions,
        });
        // The site's public address (DNS points at it): protected, so a replacement or destroy cannot lose it.
        this.reservedIp =
            args.standby?.reservedIp ??
            new digitalocean.ReservedIp(
                `${name}-ip`,
                { region: args.region },
                { ...parent, protect: args.protectReservedIp },
            );
        // One LB: the program assigns the address. Retained on delete, so a move to lbCount 2 (which drops
        // this resource) leaves the address on this droplet until its keepalived owns it.
        const assignment = args.standby
            ? undefined
            : new digitalocean.ReservedIpAssignment(
                  `${name}-ip-assignment`,
                  { ipAddress: this.reservedIp.ipAddress, dropletId: this.droplet.id.apply(Number) },
                  { ...parent, retainOnDelete: true },
              );

        this.publicIp = this.reservedIp.ipAddress;
        this.dropletIp = this.droplet.ipv4Address;
        this.privateIp = this.droplet.ipv4AddressPrivate;
        // With a standby the reserved IP may be on the other LB: reach each droplet at its own address.
        const sshHost = args.standby ? this.dropletIp : this.publicIp;
        this.connection = connectionTo(sshHost, args.deployPrivateKey, undefined, this.hostKey);
        this.ready = new HostReady(
            `${name}-host`,
            { connection: this.connection, hostId: this.droplet.id, dependsOn: assignment ? [assignment] : [] },
            parent,
        );

        const { certificatePem, privateKeyPem } = args.certificate(this.publicIp);
        this.certificateInstalled = new remote.Command(
            `${name}-tls`,
            {
                connection: this.connection,
                create: runTool("write-tls.sh"),
                // The key is secret on stdin only; the triggers carry hashes.
                stdin: pulumi.secret(pulumi.interpolate`${privateKeyPem}\n${certificatePem}\n`),
                triggers: [
                    trigger("droplet", this.ready.hostId),
                    trigger("certificate", pulumi.output(certificatePem).apply(sha256)),
                    trigger("key", pulumi.secret(pulumi.output(privateKeyPem).apply(sha256))),
                ],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [this.ready.tools] },
        );

        this.registerOutputs({ publicIp: this.publicIp, privateIp: this.privateIp, dropletIp: this.dropletIp });
    }
}
