import * as fs from "fs";
import * as path from "path";
import Mustache from "mustache";
import * as layout from "../lib/layout";

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

export interface AppUserDataArgs {
    deployPublicKey: string;
}

export function appUserData(args: AppUserDataArgs): string {
    return render("app.yaml.mustache", { deployPublicKey: args.deployPublicKey.trim() });
}

export interface LbUserDataArgs {
    deployPublicKey: string;
}

export function lbUserData(args: LbUserDataArgs): string {
    return render("lb.yaml.mustache", { deployPublicKey: args.deployPublicKey.trim() });
}
