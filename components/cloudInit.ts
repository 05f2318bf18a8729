import * as fs from "fs";
import * as path from "path";
import Mustache from "mustache";

/**
 * User-data for both droplet roles, rendered from the templates in components/host/cloud-init/.
 * Pure: the same inputs give the same text, so a droplet is replaced only when its inputs change.
 */

const templateDir = path.join(__dirname, "host", "cloud-init");
const read = (file: string) => fs.readFileSync(path.join(templateDir, file), "utf8");

function render(template: string, view: Record<string, string | number>): string {
    // YAML, not HTML: no escaping. Values are validated config or generated keys.
    return Mustache.render(read(template), view, { common: read("common.yaml.mustache") }, { escape: (s: string) => s });
}

const indent = (text: string, spaces: number) =>
    text.split("\n").map((line) => (line === "" ? "" : " ".repeat(spaces) + line)).join("\n").replace(/\n+$/, "");

export interface AppUserDataArgs {
    deployPublicKey: string;
    nodeVersion: string;
    nodeDistUrl: string;
    stopGraceSeconds: number;
}

export function appUserData(args: AppUserDataArgs): string {
    return render("app.yaml.mustache", {
        deployPublicKey: args.deployPublicKey.trim(),
        nodeVersion: args.nodeVersion,
        nodeDistUrl: args.nodeDistUrl,
        // systemd's stop timeout: the app's own grace period plus time to exit.
        stopTimeoutSeconds: args.stopGraceSeconds + 10,
        installNodeScript: indent(fs.readFileSync(path.join(__dirname, "host", "install-node.sh"), "utf8"), 6),
    });
}

export interface LbUserDataArgs {
    deployPublicKey: string;
}

export function lbUserData(args: LbUserDataArgs): string {
    return render("lb.yaml.mustache", { deployPublicKey: args.deployPublicKey.trim() });
}
