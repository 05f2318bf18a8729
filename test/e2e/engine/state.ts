// The mock engine's memory between `up`s, as Pulumi's state file is for the real engine: per resource the
// hash of its last successful inputs, its id and outputs, and what later diffs need of its inputs.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { DATA_DIR } from "./topology";

export const MOCK_STATE = path.join(DATA_DIR, "engine-state.json");

/** A resource's inputs or outputs, secrets unwrapped (the emulation reads each type's own fields). */
export type Props = Record<string, unknown>;

export interface Stored {
    inputsHash: string;
    id: string;
    state: Props;
    inputs: Props;
    /** The beforeDelete hooks bound to it by the last `up` that registered it (run by its delete). */
    hooks?: string[];
}

export interface EngineState {
    resources: Record<string, Stored>;
}

/** What happened to one resource in one `up`, for the scenario's figures. */
export interface JournalEntry {
    type: string;
    name: string;
    action: "create" | "update" | "replace" | "same" | "delete" | "failed";
    startedAt: number;
    ms: number;
    error?: string;
}

export function loadEngineState(): EngineState {
    return fs.existsSync(MOCK_STATE) ? JSON.parse(fs.readFileSync(MOCK_STATE, "utf8")) : { resources: {} };
}

export function saveEngineState(engine: EngineState): void {
    fs.writeFileSync(`${MOCK_STATE}.tmp`, JSON.stringify(engine), { mode: 0o600 });
    fs.renameSync(`${MOCK_STATE}.tmp`, MOCK_STATE);
}

/** The outputs of the first stored resource of a type (e.g. the stack's certificate or deploy key). */
export function storedOfType(engine: EngineState, type: string, has?: string): Props | undefined {
    return Object.entries(engine.resources).find(([k, r]) => k.startsWith(`${type}::`) && (!has || r.state[has]))?.[1]
        .state;
}

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** The top-level inputs that arrived as secrets (a hook gets them as secrets again). */
export function secretKeys(inputs: Props): string[] {
    return Object.keys(inputs).filter((k) => (inputs[k] as Props | null)?.[SIG_KEY] === SECRET_SIG);
}

/** Secrets arrive wrapped ({sig: secret, value}); the emulation needs the plain values. */
export function unsecret(v: unknown): unknown {
    if (Array.isArray(v)) return v.map(unsecret);
    if (v && typeof v === "object" && !(v instanceof pulumi.asset.Asset) && !(v instanceof pulumi.asset.Archive)) {
        const o = v as Props;
        if (o[SIG_KEY] === SECRET_SIG) return unsecret(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, unsecret(x)]));
    }
    return v;
}

/** Hash of the inputs as the engine would diff them: assets by content. */
export async function inputsHash(inputs: Props): Promise<string> {
    const canon = async (v: unknown): Promise<unknown> => {
        if (v instanceof pulumi.asset.FileAsset) {
            const p = await v.path;
            return { fileAsset: crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex") };
        }
        if (Array.isArray(v)) return Promise.all(v.map(canon));
        if (v && typeof v === "object") {
            const out: Props = {};
            for (const k of Object.keys(v).sort()) out[k] = await canon((v as Props)[k]);
            return out;
        }
        return v;
    };
    return crypto
        .createHash("sha256")
        .update(JSON.stringify(await canon(inputs)))
        .digest("hex");
}

/** What later diffs need (droplet force-new fields, command triggers, ssh public keys); no assets. */
export function storedInputs(type: string, inputs: Props): Props {
    if (type === "command:remote:CopyToRemote") return { remotePath: inputs.remotePath, triggers: inputs.triggers };
    return JSON.parse(JSON.stringify(inputs));
}
