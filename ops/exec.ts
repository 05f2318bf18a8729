// `npm run ops -- exec -- <command>`: the command on every app host in turn (or one), output per host.
import { Runner } from "./runner";
import { OpsHost } from "./target";

/** The remote command line: the words joined by spaces for the remote shell, as ssh itself does. */
export function execCommandLine(words: string[]): string {
    const line = words.join(" ").trim();
    if (line === "") throw new Error("exec needs a command after --, e.g. npm run ops -- exec -- uname -r");
    return line;
}

export async function exec(r: Runner, hosts: OpsHost[], words: string[], print: (s: string) => void): Promise<number> {
    const line = execCommandLine(words);
    const failed: string[] = [];
    for (const h of hosts) {
        const res = await r.run(h.name, line);
        print(`── ${h.name} (${h.droplet}, ${h.privateIp}): exit ${res.code}`);
        for (const text of [res.stdout, res.stderr]) if (text !== "") print(text.replace(/\n$/, ""));
        if (res.code !== 0) failed.push(h.name);
    }
    if (failed.length > 0) print(`failed on ${failed.join(", ")}`);
    return failed.length > 0 ? 1 : 0;
}
