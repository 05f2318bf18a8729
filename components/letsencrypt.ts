import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as remote from "@pulumi/command/remote";
import { lbLiveTlsPaths } from "../lib/layout";
import { Connection, runTool, trigger } from "./commands";
import { sha256File } from "./hash";
import { hostScriptsDir } from "./hostTools";

/**
 * Where nginx reads the certificate in tlsMode letsencrypt: through the `live` symlink that
 * letsencrypt.sh points at write-tls.sh's self-signed pair until certbot has issued, then at certbot's
 * lineage. A later write-tls.sh run (it writes the pair beside the link) never replaces an issued cert.
 */
export const letsencryptTlsPaths = lbLiveTlsPaths;

/** The load balancer both steps run on, and the name on the certificate. */
interface LetsEncryptHost {
    /** The load balancer's connection. */
    connection: Connection;
    domain: string;
    /** The LB droplet's id: a new droplet has no certificate yet, so both steps run again. */
    hostId: pulumi.Input<string>;
}

export interface LetsEncryptArgs extends LetsEncryptHost {
    /** write-tls.sh has installed the self-signed pair (it runs after the host scripts are installed). */
    selfSignedInstalled: pulumi.Resource;
}

const scriptHash = (): string => sha256File(path.join(hostScriptsDir, "letsencrypt.sh"));

/**
 * tlsMode letsencrypt on the load balancer, before the nginx push: points nginx's certificate paths at
 * an issued certificate if the host has one, else at the self-signed pair, so nginx always starts.
 * LetsEncryptIssuance runs certbot after the push.
 */
export class LetsEncrypt extends pulumi.ComponentResource {
    readonly prepare: remote.Command;
    readonly tlsPaths = letsencryptTlsPaths;

    constructor(name: string, args: LetsEncryptArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:tls:LetsEncrypt", name, {}, opts);
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
}

export interface LetsEncryptIssuanceArgs extends LetsEncryptHost {
    email: string;
    /** ACME directory URL. */
    server: string;
    /** LetsEncrypt's prepare, the nginx push (port 80 serves the webroot) and the DNS record, if managed. */
    after: pulumi.Resource[];
    /**
     * Where the certbot Command was before it had a component of its own (a child of LetsEncrypt named
     * `<LetsEncrypt's name>-issue`): stacks deployed then keep it instead of running certbot again.
     */
    commandAliases?: pulumi.Input<pulumi.URN | pulumi.Alias>[];
}

/**
 * The certbot run: HTTP-01 through the webroot nginx serves on port 80, the deploy hook that reloads
 * nginx after issuance and every renewal, and Debian's certbot.timer enabled.
 */
export class LetsEncryptIssuance extends pulumi.ComponentResource {
    readonly issue: remote.Command;

    constructor(name: string, args: LetsEncryptIssuanceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:tls:LetsEncryptIssuance", name, {}, opts);
        this.issue = new remote.Command(
            `${name}-issue`,
            {
                connection: args.connection,
                create: runTool("letsencrypt.sh", "issue", args.domain, args.email, args.server),
                triggers: [
                    trigger("droplet", args.hostId),
                    trigger("domain", args.domain),
                    trigger("email", args.email),
                    trigger("server", args.server),
                    trigger("scripts", scriptHash()),
                ],
                addPreviousOutputInEnv: false,
            },
            { parent: this, dependsOn: args.after, aliases: args.commandAliases },
        );
        this.registerOutputs({});
    }
}
