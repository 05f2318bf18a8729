import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import * as tls from "@pulumi/tls";

/** What every droplet of the stack shares, whatever its role. */
export interface DropletBaseArgs {
    region: string;
    size: string;
    vpcId: pulumi.Input<string>;
    tags: pulumi.Input<string>[];
    /** This role's deploy key: registered with DigitalOcean, installed for the deploy user, used by Commands. */
    sshKeyFingerprints: pulumi.Input<string>[];
    deployPublicKey: pulumi.Input<string>;
    deployPrivateKey: pulumi.Input<string>;
    backups: boolean;
    monitoring: boolean;
}

/** A droplet's SSH host key, made by the program: cloud-init installs it, every connection pins it. */
export interface HostKey {
    /** Secret: it only travels inside the (secret) user-data. */
    privateKeyOpenssh: pulumi.Output<string>;
    /** `ssh-ed25519 AAAA...`: the `hostKey` of every Command connection, and ops' known_hosts. */
    publicKeyOpenssh: pulumi.Output<string>;
}

/** The host key of droplet `name` (`<name>-host-key`, ED25519). */
export function hostKey(name: string, opts: pulumi.CustomResourceOptions): HostKey {
    const key = new tls.PrivateKey(
        `${name}-host-key`,
        { algorithm: "ED25519" },
        { ...opts, additionalSecretOutputs: ["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"] },
    );
    return {
        privateKeyOpenssh: pulumi.secret(key.privateKeyOpenssh),
        publicKeyOpenssh: key.publicKeyOpenssh.apply((k) => k.trim()),
    };
}

/**
 * A Debian 12 droplet on the VPC: both roles run the same image, so what the tests install is what runs.
 * `userData` forces a replacement when it changes (DigitalOcean), so it stays small and stable; it holds
 * the host's private host key, so it is a secret (in the state and in a preview's diff).
 */
export function debianDroplet(
    name: string,
    dropletName: string,
    args: DropletBaseArgs,
    userData: pulumi.Input<string>,
    opts: pulumi.CustomResourceOptions,
): digitalocean.Droplet {
    return new digitalocean.Droplet(
        name,
        {
            name: dropletName,
            image: "debian-12-x64",
            region: args.region,
            size: args.size,
            vpcUuid: args.vpcId,
            sshKeys: args.sshKeyFingerprints,
            tags: args.tags,
            backups: args.backups,
            monitoring: args.monitoring,
            userData: pulumi.secret(userData),
        },
        opts,
    );
}
