// An app "host" on this machine for the deploy scripts: a temporary root with the production layout,
// the environment that points stage.sh/cutover.sh at it, and fake-service.sh standing in for systemd
// (it really starts and stops the app's node process, by PID). stage.sh builds as `nobody` (BUILD_USER) with
// setpriv, and cutover.sh runs inline: this machine has no systemd as PID 1 for either.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const FAKE_SERVICE = path.join(__dirname, "fake-service.sh");

/** The unprivileged user stage.sh builds as here (a user every Debian machine has). */
export const BUILD_USER = "nobody";

/**
 * The layout stage.sh and cutover.sh expect under /srv/meteor and /etc/meteor, made under `root`. `root` and
 * its parent become 0755 (a temporary directory is 0700) so that the build user reaches the releases.
 */
export function makeHostRoot(root: string): { appRoot: string; envRoot: string } {
    for (const d of ["srv/meteor/releases", "srv/meteor/incoming", "etc/meteor"])
        fs.mkdirSync(path.join(root, d), { recursive: true });
    for (const d of [path.dirname(root), root]) fs.chmodSync(d, 0o755);
    return { appRoot: path.join(root, "srv/meteor"), envRoot: path.join(root, "etc/meteor") };
}

export interface HostEnvOptions {
    appRoot: string;
    envRoot: string;
    /** Where fake-service.sh keeps the app's PID and log. */
    stateDir: string;
    /** The (fake or real) LB admin API port on 127.0.0.1. */
    lbPort: number;
    /** The address the app binds and cutover.sh checks (each "host" has its own 127.0.0.x). */
    healthHost?: string;
    /** Seconds fake-service.sh waits for the app to stop after SIGTERM. */
    stopTimeoutSeconds?: number;
}

/** The deploy scripts' environment overrides for one fake host (the production defaults otherwise). */
export function hostEnv(o: HostEnvOptions): NodeJS.ProcessEnv {
    return {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        METEOR_DO_APP_ROOT: o.appRoot,
        METEOR_DO_ENV_ROOT: o.envRoot,
        METEOR_DO_NPM: execFileSync("bash", ["-c", "command -v npm"], { encoding: "utf8" }).trim(),
        METEOR_DO_RESTART_CMD: `${FAKE_SERVICE} restart`,
        METEOR_DO_JOURNAL_CMD: `${FAKE_SERVICE} journal`,
        METEOR_DO_LB_PORT: String(o.lbPort),
        METEOR_DO_BUILD_USER: BUILD_USER,
        METEOR_DO_BUILD_SANDBOX: "setpriv",
        // cutover.sh runs inline: no systemd here to run it as a transient unit (the e2e does).
        METEOR_DO_CUTOVER_DETACH: "no",
        // The Node.js cutover.sh reports to the LB: the one running the tests.
        METEOR_DO_NODE: process.execPath,
        ...(o.healthHost ? { METEOR_DO_HEALTH_HOST: o.healthHost } : {}),
        FAKE_SVC_PIDFILE: path.join(o.stateDir, "app.pid"),
        FAKE_SVC_LOG: path.join(o.stateDir, "app.log"),
        ...(o.stopTimeoutSeconds ? { FAKE_SVC_STOP_TIMEOUT: String(o.stopTimeoutSeconds) } : {}),
    };
}
