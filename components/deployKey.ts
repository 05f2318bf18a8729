import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import * as tls from "@pulumi/tls";

export interface DeployKeyArgs {
    /** Name of the key in the DigitalOcean account (unique per account: include the stack). */
    keyName: string;
}

/**
 * A role's deploy key (one for the LB, one for the app hosts): the key that role's Commands log in with, an
 * ED25519 key made by @pulumi/tls, registered with DigitalOcean (so droplets are created without a root
 * password) and installed for the deploy user by cloud-init.
 * The private key exists only as a secret in state.
 */
export class DeployKey extends pulumi.ComponentResource {
    readonly privateKeyOpenssh: pulumi.Output<string>;
    readonly publicKeyOpenssh: pulumi.Output<string>;
    readonly fingerprint: pulumi.Output<string>;

    constructor(name: string, args: DeployKeyArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:ssh:DeployKey", name, {}, opts);
        const key = new tls.PrivateKey(
            `${name}-key`,
            { algorithm: "ED25519" },
            {
                parent: this,
                additionalSecretOutputs: ["privateKeyOpenssh", "privateKeyPem", "privateKeyPemPkcs8"],
            },
        );
        const registered = new digitalocean.SshKey(
            `${name}-sshkey`,
            {
                name: args.keyName,
                publicKey: key.publicKeyOpenssh,
            },
            { parent: this },
        );

        this.privateKeyOpenssh = pulumi.secret(key.privateKeyOpenssh);
        this.publicKeyOpenssh = key.publicKeyOpenssh;
        this.fingerprint = registered.fingerprint;
        this.registerOutputs({ publicKeyOpenssh: this.publicKeyOpenssh, fingerprint: this.fingerprint });
    }

    /** What a droplet of this key's role takes (DropletBaseArgs): registered, installed, logged in with. */
    dropletArgs() {
        return {
            sshKeyFingerprints: [this.fingerprint],
            deployPublicKey: this.publicKeyOpenssh,
            deployPrivateKey: this.privateKeyOpenssh,
        };
    }
}
