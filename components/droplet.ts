import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";

/** What every droplet of the stack shares, whatever its role. */
export interface DropletBaseArgs {
    region: string;
    size: string;
    vpcId: pulumi.Input<string>;
    tags: pulumi.Input<string>[];
    sshKeyFingerprints: pulumi.Input<string>[];
    deployPublicKey: pulumi.Input<string>;
    deployPrivateKey: pulumi.Input<string>;
    backups: boolean;
    monitoring: boolean;
}

/**
 * A Debian 12 droplet on the VPC: both roles run the same image, so what the tests install is what runs.
 * `userData` forces a replacement when it changes (DigitalOcean), so it stays small and stable.
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
            userData,
        },
        opts,
    );
}
