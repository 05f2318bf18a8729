// `npm run ops` against the topology as an operator: adding the operator's key runs only the operator
// Commands (no droplet replaced); `status`, `logs --lines 5` and `exec -- uname -r` answer for every host
// through the LB; the operator has no root beyond the rollback's cutover.
import * as os from "os";
import { appUnit } from "../../../lib/layout";
import { freshOpsState, ops, opsConfig } from "../opsCli";
import { APP_COUNT, Step } from "../scenario";

const step: Step = async (s) => {
    const { stack } = s;
    freshOpsState();
    const added = await s.up("operator key", opsConfig(s));
    const ran = added.journal.filter((j) => j.type.startsWith("command:remote:") && j.action !== "same");
    s.check(added.ok, "the up that adds the operator key succeeds");
    s.check(
        ran.length === APP_COUNT + 1 && ran.every((j) => j.name.endsWith("-operators")),
        `only the ${APP_COUNT + 1} operator Commands ran (${ran.map((j) => j.name).join(", ")})`,
    );
    const replaced = added.journal.filter((j) => j.type.endsWith("droplet:Droplet") && j.action !== "same").length;
    s.check(replaced === 0, `no droplet changed (${replaced})`);

    const v2 = s.bundles.v2.sha256.slice(0, 12);
    const status = await ops(s, ["status"]);
    s.check(status.code === 0, `ops status exits 0 (${status.stderr.trim().slice(0, 300)})`);
    for (const h of stack.appHosts()) {
        const row = status.stdout.split("\n").find((l) => l.startsWith(`${h.name} `)) ?? "";
        const cells = row.split(/\s{2,}/);
        s.check(
            cells[1] === h.privateIp &&
                cells[2] === "up" &&
                cells[3] === `${v2} METEOR@3.1` &&
                cells[4] === `v${s.nodeVersion}` &&
                /^\d+(s|m \d+s|h \d+m)$/.test(cells[5] ?? ""),
            `status row of ${h.name}: ${JSON.stringify(row)}`,
        );
    }
    s.check(
        /config generation \d+, certificate expires \d{4}-\d\d-\d\dT/.test(status.stdout),
        `status shows the LB's generation and certificate expiry (${status.stdout.split("\n").at(-2)})`,
    );

    const logs = await ops(s, ["logs", "--lines", "5"]);
    const lines = logs.stdout.split("\n").filter((l) => l !== "");
    const perHost = new Map<string, number>();
    const times: number[] = [];
    for (const l of lines) {
        const m = /^(app-\d+) +\| (\S+) /.exec(l);
        if (!m) continue;
        perHost.set(m[1], (perHost.get(m[1]) ?? 0) + 1);
        times.push(Date.parse(m[2]));
    }
    s.check(logs.code === 0, `ops logs exits 0 (${logs.stderr.trim().slice(0, 300)})`);
    s.check(
        perHost.size === APP_COUNT && [...perHost.values()].every((n) => n >= 1 && n <= 5),
        `logs --lines 5: 1 to 5 lines from each host, host name first (${JSON.stringify(Object.fromEntries(perHost))})`,
    );
    s.check(
        times.length === lines.length && times.every((t, i) => i === 0 || t >= times[i - 1]),
        "every log line carries a time, in order",
    );

    const exec = await ops(s, ["exec", "--", "uname", "-r"]);
    const kernel = os.release();
    const blocks = exec.stdout.split(/^── /m).filter((b) => b !== "");
    s.check(exec.code === 0, `ops exec exits 0 (${exec.stderr.trim().slice(0, 300)})`);
    s.check(
        blocks.length === APP_COUNT &&
            blocks.every((b, i) => b.startsWith(`app-${i + 1} `) && b.includes(`\n${kernel}`)),
        `exec -- uname -r: each host in turn answers ${kernel}`,
    );

    // Least privilege: the journal yes, root no (sudo only for the rollback's cutover form).
    const groups = await ops(s, ["exec", "--host", "app-1", "--", "id", "-nG"]);
    const sudo = await ops(s, ["exec", "--host", "app-1", "--", "sudo", "-n", "systemctl", "restart", appUnit]);
    s.check(groups.stdout.includes("systemd-journal"), "the operator is in systemd-journal");
    s.check(sudo.code !== 0, `the operator cannot restart the app with sudo (exit ${sudo.code})`);

    s.figures.ops = {
        keyUpCommands: `${ran.length}/${added.journal.filter((j) => j.type.startsWith("command:remote:")).length}`,
        statusMs: status.ms,
        logsMs: logs.ms,
        logsLines: lines.length,
        execMs: exec.ms,
    };
};
export default step;
