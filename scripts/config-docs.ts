import * as fs from "fs";
import * as path from "path";
import { configSchema, projectName, projectRoot } from "../components/config";

/**
 * The README's configuration reference, generated from Pulumi.yaml's `config:` block so the two never
 * drift. `npm run docs:config` rewrites the README; the unit suite compares.
 */
export function configReference(): string {
    const rows = Object.entries(configSchema()).map(([key, s]) => {
        const type = s.type === "array" ? "list of strings" : (s.type ?? "map");
        const def = s.default === undefined ? "" : `\`${String(s.default)}\``;
        const secret = s.secret ? " (secret)" : "";
        return `| \`${key}\` | ${type}${secret} | ${def} | ${s.description.replace(/\|/g, "\\|")} |`;
    });
    return [
        `Set with \`pulumi config set ${projectName}:<key> <value>\` (secrets with \`--secret\`). Every value is`,
        "checked before anything is created; a bad one fails `pulumi preview` naming the key and what is allowed.",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
        ...rows,
    ].join("\n");
}

const start = /<!-- config-reference:start[^>]*-->\n/;
const end = "<!-- config-reference:end -->";

export function readmeWithReference(readme: string): string {
    const m = start.exec(readme);
    const e = readme.indexOf(end);
    if (!m || e < 0) throw new Error("README.md lacks the config-reference markers");
    return readme.slice(0, m.index + m[0].length) + configReference() + "\n" + readme.slice(e);
}

if (require.main === module) {
    const file = path.join(projectRoot, "README.md");
    fs.writeFileSync(file, readmeWithReference(fs.readFileSync(file, "utf8")));
    console.log("README.md configuration reference regenerated from Pulumi.yaml");
}
