// `npm run ops -- logs`: the app's journal of every host (or one), each line led by the host's name, in
// time order; with --follow, lines as they come until Ctrl-C.
import { journalCommand, JournalOptions } from "./remote";
import { formatJournalLine, JournalLine, mergeJournals, parseJournalLine } from "./report";
import { Runner } from "./runner";
import { OpsHost } from "./target";

export async function logs(
    r: Runner,
    hosts: OpsHost[],
    o: JournalOptions,
    print: (s: string) => void,
    warn: (s: string) => void,
): Promise<number> {
    const command = journalCommand(o);
    const width = Math.max(...hosts.map((h) => h.name.length));
    if (o.follow) {
        const codes = await Promise.all(
            hosts.map((h) =>
                r.stream(h.name, command, (line, stream) =>
                    stream === "out"
                        ? print(formatJournalLine(parseJournalLine(h.name, line), width))
                        : warn(`${h.name}: ${line}`),
                ),
            ),
        );
        return codes.some((c) => c !== 0) ? 1 : 0;
    }
    const results = await Promise.all(hosts.map((h) => r.run(h.name, command)));
    const perHost: JournalLine[][] = results.map((res, i) =>
        res.stdout
            .split("\n")
            .filter((l) => l !== "")
            .map((l) => parseJournalLine(hosts[i].name, l)),
    );
    for (const l of mergeJournals(perHost)) print(formatJournalLine(l, width));
    let code = 0;
    results.forEach((res, i) => {
        if (res.code !== 0) {
            code = 1;
            warn(`${hosts[i].name}: journalctl failed (exit ${res.code}): ${res.stderr.trim()}`);
        }
    });
    return code;
}
