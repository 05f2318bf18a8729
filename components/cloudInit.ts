import * as fs from "fs";
import * as path from "path";
import Mustache from "mustache";
import * as layout from "../lib/layout";
import { assertRule, rules } from "../lib/validate";

/**
 * User-data for both droplet roles, rendered from the templates in components/host/cloud-init/ with the
 * host layout (lib/layout.ts). Pure: the same inputs give the same text, so a droplet is replaced only
 * when its inputs change.
 */

const templateDir = path.join(__dirname, "host", "cloud-init");
const read = (file: string) => fs.readFileSync(path.join(templateDir, file), "utf8");

function render(template: string, view: Record<string, string>): string {
    // YAML, not HTML: no escaping. Values are validated config or generated keys.
    return Mustache.render(
        read(template),
        { ...layout, ...view },
        {
            common: read("common.yaml.mustache"),
            hardening: read("hardening.yaml.mustache"),
            hardeningRuncmd: read("hardening-runcmd.yaml.mustache"),
        },
        { escape: (s: string) => s },
    );
}

/** What both roles' user-data carry: the role's deploy key and the droplet's own host key (secret). */
export interface UserDataArgs {
    deployPublicKey: string;
    /** The droplet's ED25519 host key pair (OpenSSH format), made by the program (droplet.ts hostKey). */
    hostKey: { privateKeyOpenssh: string; publicKeyOpenssh: string };
}

export interface AppUserDataArgs extends UserDataArgs {
    /** Where the deploy key is accepted from (sshd's `from=`): the VPC's range, where the LB is. */
    deployFrom: string;
}

/** One PEM block with this label and nothing else (built from the label so that secret scanners do not take
 * the pattern for a key). */
const pemBlock = (label: string) =>
    new RegExp(`^-----BEGIN ${label}-----\\n[A-Za-z0-9+/=\\n]+-----END ${label}-----\\n?$`);

function keyView(args: UserDataArgs, deployKeyOptions?: string): Record<string, string> {
    if (!/^ssh-ed25519 [A-Za-z0-9+/=]+( .*)?$/.test(args.hostKey.publicKeyOpenssh.trim()))
        throw new Error("hostKey.publicKeyOpenssh must be an ssh-ed25519 public key line");
    if (!pemBlock("OPENSSH PRIVATE KEY").test(args.hostKey.privateKeyOpenssh))
        throw new Error("hostKey.privateKeyOpenssh must be an OpenSSH private key (its value is not shown)");
    const key = args.deployPublicKey.trim();
    return {
        deployAuthorizedKey: deployKeyOptions ? `${deployKeyOptions} ${key}` : key,
        // A YAML block scalar under `ed25519_private: |`, indented as the template has it.
        hostKeyPrivate: args.hostKey.privateKeyOpenssh
            .trim()
            .split("\n")
            .map((l) => `    ${l}`)
            .join("\n"),
        hostKeyPublic: args.hostKey.publicKeyOpenssh.trim(),
    };
}

export function appUserData(args: AppUserDataArgs): string {
    assertRule(rules.cidr, args.deployFrom, "deployFrom");
    return render("app.yaml.mustache", keyView(args, `from="${args.deployFrom}"`));
}

export function lbUserData(args: UserDataArgs): string {
    return render("lb.yaml.mustache", keyView(args));
}
