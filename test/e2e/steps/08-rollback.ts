// `npm run ops -- rollback` under load: every host back to v1 (kept on disk) through the cutover gate,
// no failed request, every DDP client back, nothing uploaded; then the recorded rollback: an `up` that
// uploads and restarts nothing, and a second `up` that runs no Command.
import { appPaths, appUnit } from "../../../lib/layout";
import { ops, opsConfig } from "../opsCli";
import { APP_COUNT, Step } from "../scenario";

const step: Step = async (s) => {
    const { stack } = s;
    const { v1, v2 } = s.bundles;
    // Size, mtime and inode of every uploaded bundle: a new or rewritten file is an upload.
    const incoming = () =>
        Object.fromEntries(
            stack.appHosts().flatMap((h) =>
                stack
                    .sh(h, `stat -c '%n %s %Y %i' ${appPaths.incoming}/*.tgz`)
                    .stdout.trim()
                    .split("\n")
                    .map((l) => [`${h.name}:${l.split(" ")[0]}`, l]),
            ),
        );
    const pids = () =>
        stack.appHosts().map((h) => stack.sh(h, `systemctl show -p MainPID --value ${appUnit}`).stdout.trim());
    const before = incoming();
    const pidsBefore = pids();
    s.check(
        stack.appHosts().every((h) => stack.currentRelease(h) === v2.sha256),
        "every host runs v2 before the rollback",
    );

    const load = await s.startLoad(6);
    const rb = await ops(s, ["rollback"], 10 * 60e3);
    const summary = await load.stop();
    s.figures.failedRequests[s.step] = summary.failed;
    s.check(
        rb.code === 0,
        `ops rollback exits 0 (${(rb.stderr + rb.stdout).trim().split("\n").slice(-3).join(" | ")})`,
    );
    for (const h of stack.appHosts())
        s.check(stack.currentRelease(h) === v1.sha256, `${h.name} is back on v1, kept on disk`);
    s.check(
        summary.failed === 0 && summary.requests > 100,
        `0 failed requests of ${summary.requests} (${summary.failures.slice(0, 3).join("; ")})`,
    );
    const resubscribed = summary.ddp.filter((d) => d.resubscribed >= 1).length;
    s.check(
        resubscribed === summary.ddp.length && summary.ddp.length === 6,
        `every DDP client resubscribed (${resubscribed}/6)`,
    );
    const after = incoming();
    const uploadedBytes = Object.entries(after)
        .filter(([k, v]) => before[k] !== v)
        .reduce((n, [, v]) => n + Number(v.split(" ")[1]), 0);
    s.check(uploadedBytes === 0, `0 bytes of bundle uploaded (${uploadedBytes})`);
    const perHost = Object.fromEntries(
        [...rb.stdout.matchAll(/^(app-\d+) on [0-9a-f]{12} in ([0-9.]+) s$/gm)].map((m) => [m[1], Number(m[2])]),
    );
    s.check(Object.keys(perHost).length === APP_COUNT, `one cutover per host (${JSON.stringify(perHost)})`);
    const record = /meteor-do:rollback\.from=([0-9a-f]{64}) --plaintext meteor-do:rollback\.to=([0-9a-f]{64})/.exec(
        rb.stdout,
    );
    s.check(record?.[1] === v2.sha256 && record?.[2] === v1.sha256, "it prints the config that records v2 -> v1");
    const pidsRolled = pids();
    s.check(
        pidsRolled.every((p, i) => p !== pidsBefore[i]),
        "every app restarted once, on v1",
    );

    // The record: the next up confirms the hosts without uploading or restarting; the one after runs nothing.
    const config = opsConfig(s, { rollback: JSON.stringify({ from: v2.sha256, to: v1.sha256 }) });
    const confirm = await s.up("rollback recorded", config);
    const ran = (kind: string) => confirm.journal.filter((j) => j.name.endsWith(kind) && j.action !== "same").length;
    s.check(confirm.ok, "the up with the recorded rollback succeeds");
    s.check(
        ran("-upload") === 0 && ran("-stage") === 0,
        `it uploads and stages nothing (${ran("-upload")}, ${ran("-stage")})`,
    );
    s.check(ran("-cutover") === APP_COUNT, `its cutovers confirm each host (${ran("-cutover")})`);
    s.check(JSON.stringify(pids()) === JSON.stringify(pidsRolled), "and restart no app");
    s.check(confirm.outputs?.deployedRelease === v1.sha256, "the stack says v1 is deployed");
    const second = await s.up("after rollback", config);
    const secondRan = second.journal.filter((j) => j.type.startsWith("command:remote:") && j.action !== "same");
    s.check(
        second.ok && secondRan.length === 0,
        `a second up runs 0 Commands (${secondRan.map((j) => j.name).join(", ")})`,
    );

    s.figures.rollback = {
        seconds: Math.round(rb.ms / 100) / 10,
        secondsPerHost: perHost,
        requests: summary.requests,
        failedRequests: summary.failed,
        uploadedBytes,
        confirmUpCommands: s.figures.commandsPerUp?.["rollback recorded"] ?? "",
        secondUpCommands: s.figures.commandsPerUp?.["after rollback"] ?? "",
    };
};
export default step;
