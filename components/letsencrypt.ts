import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as remote from "@pulumi/command/remote";
import { Connection, runTool, trigger } from "./commands";
import { sha256File } from "./hash";
import { hostScriptsDir } from "./hostTools";

/**
 * Where nginx reads the certificate in tlsMode letsencrypt: through the `live` symlink that
 * letsencrypt.sh points at write-tls.sh's self-signed pair until certbot has issued, then at certbot's
 * lineage. A later write-tls.sh run (it writes /etc/meteor-do/tls/*.pem) never replaces an issued cert.
 */
export const letsencryptTlsPaths = {
    certificate: "/etc/meteor-do/tls/live/fullchain.pem",
    privateKey: "/etc/meteor-do/tls/live/privkey.pem",
};

export interface LetsEncryptArgs {
    /** The load balancer's connection. */
    connection: Connection;
    domain: string;
    email: string;
    /** ACME directory URL. */
    server: string;
    /** The LB droplet's id: a new droplet has no certificate yet, so both steps run again. */
    hostId: pulumi.Input<string>;
    /** write-tls.sh has installed the self-signed pair (it runs after the host scripts are installed). */
    selfSignedInstalled: pulumi.Resource;
}

const scriptHash = (): string => sha256File(path.join(hostScriptsDir, "letsencrypt.sh"));

/**
 * tlsMode letsencrypt on the load balancer, in two Commands around the nginx push:
 * `prepare` (before it) points nginx's certificate paths at an issued certificate if the host has one,
 * else at the self-signed pair, so nginx always starts; `issue` (after it, and after DNS points at the
 * LB) runs certbot with HTTP-01 through the webroot nginx serves on port 80, installs the deploy hook
 * that reloads nginx after issuance and every renewal, and enables Debian's certbot.timer.
 */
export class LetsEncrypt extends pulumi.ComponentResource {
    readonly prepare: remote.Command;
    readonly tlsPaths = letsencryptTlsPaths;
    private readonly args: LetsEncryptArgs;
    private readonly baseName: string;

    constructor(name: string, args: LetsEncryptArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:tls:LetsEncrypt", name, {}, opts);
        this.args = args;
        this.baseName = name;
        this.prepare = new remote.Command(
            `${name}-prepare`,
            {
                connection: args.connection,
                create: runTool("letsencrypt.sh", "prepare", args.domain),
                triggers: [
                    trigger("droplet", args.hostId),
                    trigger("domain", args.domain),
                    trigger("scripts", scriptHash()),
                ],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [args.selfSignedInstalled] },
        );
        this.registerOutputs({});
    }

    /** The certbot run; `after`: the nginx push (port 80 serves the webroot) and the DNS record. */
    issue(after: pulumi.Resource[]): remote.Command {
        const a = this.args;
        return new remote.Command(
            `${this.baseName}-issue`,
            {
                connection: a.connection,
                create: runTool("letsencrypt.sh", "issue", a.domain, a.email, a.server),
                triggers: [
                    trigger("droplet", a.hostId),
                    trigger("domain", a.domain),
                    trigger("email", a.email),
                    trigger("server", a.server),
                    trigger("scripts", scriptHash()),
                ],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: [this.prepare, ...after] },
        );
    }
}
