// Where a secret of the stack must never show: the mock engine's state (every resource's inputs and outputs
// but a Command's stdin, the one channel for secrets), the `up` logs, the fake API's log, and on the LB
// droplets /var/log, cloud-init's copy of the user-data and the whole journal.
import * as fs from "fs";
import * as path from "path";
import { hostExec } from "./engine/hosts";
import { LocalStack } from "./engine/stack";
import { DATA_DIR } from "./engine/topology";

/** The places (by name) that hold `secret`; none is the expected answer. */
export function tokenLeaks(stack: LocalStack, secret: string): string[] {
    const leaks: string[] = [];
    for (const [key, r] of Object.entries(stack.engineState().resources)) {
        const strip = (p: Record<string, unknown>) => ({ ...p, stdin: undefined });
        if (JSON.stringify([strip(r.inputs), strip(r.state)]).includes(secret)) leaks.push(key);
    }
    for (const f of fs.readdirSync(DATA_DIR).filter((n) => /^(up-\d+\.log|do-api\.(log|err))$/.test(n)))
        if (fs.readFileSync(path.join(DATA_DIR, f), "utf8").includes(secret)) leaks.push(f);
    for (const h of stack.lbHosts()) {
        // The secret goes to grep on stdin, never on a command line.
        const files = hostExec(h, ["sh", "-c", "grep -rlFf /dev/stdin /var/log /var/lib/cloud || true"], secret);
        for (const f of files.stdout.split("\n").filter(Boolean)) leaks.push(`${h.name}:${f}`);
        // The journal as journalctl exports it (fd 3 keeps the secret; the journal goes through a variable, so
        // grep's stdin is never the pattern). Out: entries read, then the names of the fields that hold it.
        const journal = hostExec(
            h,
            [
                "bash",
                "-c",
                'exec 3<&0; j=$(journalctl --no-pager -o export) || exit 2; grep -c "^__CURSOR=" <<<"$j"; grep -aFf /dev/fd/3 <<<"$j" | cut -d= -f1 | sort | uniq -c || true',
            ],
            secret,
        );
        const [entries, ...fields] = journal.stdout.trim().split("\n");
        if (journal.code !== 0 || !(Number(entries) > 0)) leaks.push(`${h.name}: journal unreadable (${journal.code})`);
        else if (fields.length > 0) leaks.push(`${h.name}: journal fields ${fields.map((f) => f.trim()).join(", ")}`);
    }
    return leaks;
}
