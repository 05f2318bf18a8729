import { rules } from "../../lib/validate";
import { Reader } from "./reader";

/** A rollback that `npm run ops -- rollback` made and recorded in the stack's config. */
export interface RecordedRollback {
    /** The bundle's sha256 when the rollback was made: the record holds only while `bundle` is still it. */
    from: string;
    /** The release the hosts were rolled back to (kept on every host). */
    to: string;
}

/** Day 2: who may log in as the operator user, and a recorded rollback. */
export interface OpsSettings {
    /** OpenSSH public key lines allowed to log in as the operator user. */
    operatorSshKeys: string[];
    rollback?: RecordedRollback;
}

export function readOps(r: Reader): OpsSettings {
    const operatorSshKeys = r.list("operatorSshKeys", rules.publicKey);
    operatorSshKeys.forEach((k, i) => {
        if (operatorSshKeys.indexOf(k) !== i)
            r.problem(`${r.key("operatorSshKeys")}[${i}] is the same key as [${operatorSshKeys.indexOf(k)}]`);
    });

    let rollback: RecordedRollback | undefined;
    if (r.text("rollback") !== undefined) {
        const o = r.object("rollback");
        const ok =
            Object.keys(o).every((k) => k === "from" || k === "to") &&
            typeof o.from === "string" &&
            typeof o.to === "string" &&
            rules.sha256.ok(o.from) &&
            rules.sha256.ok(o.to) &&
            o.from !== o.to;
        if (ok) rollback = { from: o.from as string, to: o.to as string };
        else
            r.problem(
                `${r.key("rollback")} is ${JSON.stringify(o)}: must be { from, to }, two different release sha256s, as \`npm run ops -- rollback\` records it (remove it with pulumi config rm meteor-do:rollback)`,
            );
    }
    return { operatorSshKeys, rollback };
}

/** The release the app hosts must run: the recorded rollback's while `bundle` is still the one it left. */
export function liveRelease(bundleSha256: string, rollback: RecordedRollback | undefined): string {
    return rollback && rollback.from === bundleSha256 ? rollback.to : bundleSha256;
}

/** A recorded rollback that no longer applies (the bundle changed since): said in every preview. */
export function rollbackWarning(bundleSha256: string, rollback: RecordedRollback | undefined): string | undefined {
    if (!rollback || rollback.from === bundleSha256) return undefined;
    return `meteor-do:rollback was recorded for bundle ${rollback.from.slice(0, 12)}, but the bundle is now ${bundleSha256.slice(0, 12)}: deploying the bundle. Remove the record with pulumi config rm meteor-do:rollback`;
}
