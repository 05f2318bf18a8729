import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";

export const projectName = "meteor-do";
export const projectRoot = path.resolve(__dirname, "../..");

export interface KeySchema {
    type?: "string" | "integer" | "boolean" | "array";
    default?: unknown;
    secret?: boolean;
    description: string;
}

/** The `config:` block of Pulumi.yaml: the one list of keys, types and defaults. */
export function configSchema(): Record<string, KeySchema> {
    const doc = YAML.parse(fs.readFileSync(path.join(projectRoot, "Pulumi.yaml"), "utf8"));
    return doc.config;
}

/** Raw config text by key, as the engine passes it (secrets in plain text, so never print those). */
export type RawConfig = (key: string) => string | undefined;

export class ConfigError extends Error {
    constructor(readonly problems: string[]) {
        super(`invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
        this.name = "ConfigError";
    }
}
