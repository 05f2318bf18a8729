// One app "host" for the host suite's deploy-script tests: a temporary root with the production layout and
// fake-service.sh for systemd (support/fakeHost), a fake LB admin API (fakeLb), a free port for the app, and
// the scripts' environment and env file. `close` stops the app, the LB and removes the root.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { renderEnvFile } from "../../components/env";
import { hostEnv, makeHostRoot } from "../support/fakeHost";
import { localHostTools } from "../support/hostTools";
import { request } from "../support/http";
import { freePort } from "../support/ports";
import { killPid, run, RunResult } from "../support/processes";
import { Bundle } from "../support/sampleApp";
import { FakeLb, startFakeLb } from "./fakeLb";

export interface AppHost {
    /** The temporary directory: the host's root is `host/` in it, fake-service.sh's PID and log beside. */
    tmp: string;
    appRoot: string;
    envRoot: string;
    appPort: number;
    /** `127.0.0.1:<appPort>`, as the LB names the host. */
    peer: string;
    lb: FakeLb;
    /** The deploy scripts' environment for this host, plus `extra`. */
    env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
    /** An app env file on this host's port (a 1 s stop grace), plus `extra`. */
    envText(extra?: Record<string, string>): string;
    /** Runs a host script (components/host) with this host's environment and `stdin` (default: envText()). */
    script(name: string, args: string[], opts?: { env?: NodeJS.ProcessEnv; stdin?: string }): Promise<RunResult>;
    /** Uploads a bundle into incoming/ and stages it; fails the test unless stage.sh exits 0. */
    stage(b: Bundle, stdin?: string): Promise<void>;
    /** The running app's /info.json. */
    info(): Promise<{ release: string; [key: string]: unknown }>;
    /** The app's PID (fake-service.sh's pid file). */
    appPid(): number;
    close(): Promise<void>;
}

const hostDir = localHostTools();

export async function startAppHost(name: string): Promise<AppHost> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `meteor-do-${name}-`));
    const { appRoot, envRoot } = makeHostRoot(path.join(tmp, "host"));
    const appPort = await freePort();
    const lb = await startFakeLb("/");
    const pidFile = path.join(tmp, "app.pid");
    const host: AppHost = {
        tmp,
        appRoot,
        envRoot,
        appPort,
        peer: `127.0.0.1:${appPort}`,
        lb,
        env: (extra = {}) => ({
            ...hostEnv({ appRoot, envRoot, stateDir: tmp, lbPort: lb.port, stopTimeoutSeconds: 5 }),
            ...extra,
        }),
        envText: (extra = {}) =>
            renderEnvFile({
                PORT: String(appPort),
                ROOT_URL: "https://example.test",
                STOP_GRACE_SECONDS: "1",
                BIND_IP: "127.0.0.1",
                ...extra,
            }),
        script: (script, args, opts = {}) =>
            run(path.join(hostDir, script), args, {
                env: opts.env ?? host.env(),
                stdin: opts.stdin ?? host.envText(),
                timeoutMs: 90_000,
            }),
        stage: async (b, stdin) => {
            fs.copyFileSync(b.path, path.join(appRoot, "incoming", `${b.sha256}.tgz`));
            const staged = await host.script("stage.sh", [b.sha256], { stdin });
            if (staged.code !== 0) throw new Error(`stage.sh ${b.sha256} exited ${staged.code}: ${staged.stderr}`);
        },
        info: async () => JSON.parse((await request({ url: `http://127.0.0.1:${appPort}/info.json` })).body),
        appPid: () => Number(fs.readFileSync(pidFile, "utf8")),
        close: async () => {
            if (fs.existsSync(pidFile)) killPid(host.appPid());
            await lb.close();
            fs.rmSync(tmp, { recursive: true, force: true });
        },
    };
    return host;
}
