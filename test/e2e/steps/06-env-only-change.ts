// An app-env-only change: every host rolls onto the same release with the new env, no bundle is
// uploaded again, no request fails; the secret Mongo URL is in no Command's output and the env file is 0600.
import { appPaths, appUnit, envPaths } from "../../../lib/layout";
import { APP_COUNT, MONGO_PASSWORD, Step } from "../scenario";

const step: Step = async (s) => {
    const { stack } = s;
    const incoming = () =>
        stack
            .appHosts()
            .map((h) => stack.sh(h, `stat -c %Y:%i ${appPaths.incoming}/*.tgz | sort | tr '\\n' ' '`).stdout);
    const incomingBefore = incoming();
    const load = await s.startLoad(0);
    const r6 = await s.up("env only", s.config(s.bundles.v2, { E2E_MARK: "step6" }));
    const summary = await load.stop();
    s.figures.failedRequests[s.step] = summary.failed;
    s.check(r6.ok, "the up succeeds");
    const uploads = r6.journal.filter((j) => j.type === "command:remote:CopyToRemote" && j.action !== "same").length;
    const cutovers = r6.journal.filter((j) => j.name.endsWith("-cutover") && j.action !== "same").length;
    s.check(uploads === 0, `no bundle re-uploaded (${uploads} CopyToRemote ran)`);
    s.check(cutovers === APP_COUNT, `every host rolled (${cutovers} cutovers ran)`);
    s.check(
        JSON.stringify(incomingBefore) === JSON.stringify(incoming()),
        "the uploaded bundles on the hosts are untouched",
    );
    for (const h of stack.appHosts()) {
        const env = stack
            .sh(
                h,
                `pid=$(systemctl show -p MainPID --value ${appUnit}); tr '\\0' '\\n' < /proc/$pid/environ | grep -c '^E2E_MARK=step6$' || true`,
            )
            .stdout.trim();
        s.check(env === "1" && stack.currentRelease(h) === s.bundles.v2.sha256, `${h.name} runs v2 with the new env`);
    }
    s.check(summary.failed === 0, `0 failed requests of ${summary.requests}`);

    // Secrets: the Mongo URL went to the hosts on stdin; no Command printed it.
    const printed = Object.values(stack.engineState().resources).filter((r) =>
        `${r.state.stdout ?? ""}${r.state.stderr ?? ""}`.includes(MONGO_PASSWORD),
    ).length;
    s.check(printed === 0, "no Command output contains the secret Mongo URL");
    const envMode = stack.sh(stack.appHosts()[0], `stat -L -c %a ${envPaths.appEnv}`).stdout.trim();
    s.check(envMode === "600", `the env file is 0600 (${envMode})`);
};
export default step;
