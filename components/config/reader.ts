import * as pulumi from "@pulumi/pulumi";
import { IntRule, Rule } from "../../lib/validate";
import { configSchema, KeySchema, projectName, RawConfig } from "./schema";

/**
 * What every section reader reads through: the raw values with Pulumi.yaml's defaults, and one list of
 * problems, so that loadConfig reports every problem of every section at once. Each problem names the
 * key, the value (never a secret's) and what is allowed.
 */
export class Reader {
    readonly problems: string[] = [];
    private readonly schema: Record<string, KeySchema> = configSchema();

    constructor(private readonly raw: RawConfig) {}

    /** `meteor-do:<key>`, as the user sets it. */
    key(key: string): string {
        return `${projectName}:${key}`;
    }

    problem(text: string): void {
        this.problems.push(text);
    }

    bad(key: string, v: string, allowed: string): void {
        const shown = this.schema[key].secret ? "(secret)" : JSON.stringify(v);
        this.problems.push(`${this.key(key)} is ${shown}: ${allowed}`);
    }

    /** The value, else Pulumi.yaml's default, else undefined. */
    text(key: string): string | undefined {
        if (!(key in this.schema)) throw new Error(`program bug: config key ${key} is not declared in Pulumi.yaml`);
        const v = this.raw(key);
        if (v !== undefined && v !== "") return v;
        const d = this.schema[key].default;
        return d === undefined ? undefined : String(d);
    }

    /** An integer that satisfies the rule (NaN, with a problem, when it does not). */
    int(key: string, rule: IntRule): number {
        const v = this.text(key);
        if (v === undefined) return NaN;
        const n = Number(v);
        if (!/^-?[0-9]+$/.test(v.trim()) || !rule.ok(n)) {
            this.bad(key, v, rule.allowed);
            return NaN;
        }
        return n;
    }

    /** An optional integer: undefined when unset. */
    optionalInt(key: string, rule: IntRule): number | undefined {
        return this.text(key) === undefined ? undefined : this.int(key, rule);
    }

    bool(key: string): boolean {
        const v = this.text(key);
        if (v === "true") return true;
        if (v === "false" || v === undefined) return false;
        this.bad(key, v, "must be true or false");
        return false;
    }

    oneOf<T extends string>(key: string, allowed: readonly T[]): T {
        const v = this.text(key) ?? "";
        if (!(allowed as readonly string[]).includes(v)) this.bad(key, v, `must be one of ${allowed.join(", ")}`);
        return v as T;
    }

    /** A required string that satisfies the rule. */
    checked(key: string, rule: Rule<string>): string {
        const v = this.text(key) ?? "";
        if (!rule.ok(v)) this.bad(key, v, rule.allowed);
        return v;
    }

    /** An optional string that satisfies the rule when set. */
    optional(key: string, rule?: Rule<string>): string | undefined {
        const v = this.text(key);
        if (v !== undefined && rule && !rule.ok(v)) this.bad(key, v, rule.allowed);
        return v;
    }

    secret(key: string): pulumi.Output<string> | undefined {
        const v = this.text(key);
        return v === undefined ? undefined : pulumi.secret(v);
    }

    /** A list of strings, each checked against the rule when one is given. */
    list(key: string, rule?: Rule<string>): string[] {
        const v = this.raw(key);
        if (v === undefined || v === "") return [];
        let parsed: unknown;
        try {
            parsed = JSON.parse(v);
        } catch {
            parsed = undefined;
        }
        if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === "string")) {
            this.problem(
                `${this.key(key)} must be a list of strings (pulumi config set --path '${key}[0]' 203.0.113.0/24), got ${JSON.stringify(v)}`,
            );
            return [];
        }
        for (const entry of parsed) {
            if (rule && !rule.ok(entry)) this.problem(`${this.key(key)} has ${JSON.stringify(entry)}: ${rule.allowed}`);
        }
        return parsed;
    }

    /** A map of NAME: value. */
    object(key: string): Record<string, unknown> {
        const v = this.raw(key);
        if (v === undefined || v === "") return {};
        try {
            const parsed = JSON.parse(v);
            if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed;
        } catch {
            // fall through to the problem below
        }
        // Not shown: a map's values may be secrets.
        this.problem(
            `${this.key(key)} must be a map of NAME: value (pulumi config set --path ${key}.NAME value); its value is not shown`,
        );
        return {};
    }
}

/** A rule for values that must match a regular expression (config-only formats such as size slugs). */
export function matches(re: RegExp, allowed: string): Rule<string> {
    return { ok: (v) => re.test(v), allowed };
}
