// What every scenario step gets: the local stack, the bundles, the config the program runs with, the
// figures of the run and `check`, which records a failed check against the running step and goes on.
// A step is one file in steps/ whose name gives its order and its key in the figures ("03-broken-bundle.ts"
// runs third and reports as "3-broken-bundle"); it exports `default` a Step.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { sha256File } from "../../components/hash";
import { ROOT } from "../support/files";
import { killPid } from "../support/processes";
import { sleep, waitFor } from "../support/wait";
import { LocalStack } from "./engine/stack";
import { Props } from "./engine/state";
import { CLIENT_NS, clientAddresses, DATA_DIR } from "./engine/topology";
import type { UpResult } from "./engine/up";
import type { Figures } from "./figures";
import type { DdpStat } from "./load";

export type Step = (s: Scenario) => Promise<void>;

export const APP_COUNT = 3;
export const APP_PORT = 3000;
export const VPC_RANGE = "10.10.0.0/24";
/** The Mongo URL's password: it goes to the hosts as a secret and must not appear in any Command's output. */
export const MONGO_PASSWORD = "e2e-secret-7f3a";
const MONGO_URL = `mongodb://e2e-user:${MONGO_PASSWORD}@10.10.0.254:27017/e2e`;

export interface Bundle {
    file: string;
    sha256: string;
}

export interface LoadSummary {
    requests: number;
    failed: number;
    /** GETs sent again after the LB closed a reused keep-alive connection (load.ts get()). */
    retried: number;
    failures: string[];
    /** When each failed request was sent (ms since the epoch). */
    failedSentAt: number[];
    hostsByAddress: Record<string, Record<string, number>>;
    ddp: DdpStat[];
}

export class Scenario {
    readonly figures: Figures = {
        hosts: 0,
        commands: { run: 0, total: 0 },
        userDataBooted: 0,
        failedRequests: {},
        detectionMs: null,
        cutoverMs: {},
        image: {},
        steps: {},
        wallSeconds: 0,
    };
    readonly problems: string[] = [];
    /** The step running now: checks and an abort are recorded against it. */
    step = "";
    /** The site's public address (the reserved IP), known once the first `up` succeeded. */
    site = "";
    /** The outputs of the latest `up` that had them. */
    outputs?: Props;
    bundles: Record<"v1" | "v2" | "broken", Bundle> = {} as Record<"v1" | "v2" | "broken", Bundle>;
    nodeDistUrl = "";
    nodeVersion = "";
    /** The config of the latest `up`: a later step changes one key of it. */
    lastConfig: Record<string, string> = {};

    constructor(
        readonly stack: LocalStack,
        readonly log: (msg: string) => void,
    ) {}

    /** A failed check is recorded against its step and the scenario goes on where it still can. */
    check(ok: boolean, what: string): boolean {
        if (!ok) {
            this.problems.push(`${this.step}: ${what}`);
            this.figures.steps[this.step] = "fail";
            this.log(`FAIL ${this.step}: ${what}`);
        } else {
            this.log(`ok   ${this.step}: ${what}`);
        }
        return ok;
    }

    /** Polls `test` (bounded); false, logged, when it never held: the step's check says what that means. */
    async until(what: string, timeoutMs: number, test: () => Promise<boolean>, everyMs = 250): Promise<boolean> {
        return waitFor(what, test, timeoutMs, everyMs).catch((e: Error) => {
            this.log(e.message);
            return false;
        });
    }

    /** The program's config for this bundle and app env (everything else as every `up` of the scenario). */
    config(bundle: Bundle, appEnv: Record<string, string> = {}): Record<string, string> {
        return {
            appCount: String(APP_COUNT),
            vpcIpRange: VPC_RANGE,
            nodeDistUrl: this.nodeDistUrl,
            adminCidrs: JSON.stringify(["198.18.0.0/15", "203.0.113.0/24"]),
            bundle: bundle.file,
            appPort: String(APP_PORT),
            stopGraceSeconds: "5",
            cutoverTimeoutSeconds: "20",
            mongoUrl: MONGO_URL,
            appEnv: JSON.stringify(appEnv),
        };
    }

    /** One `up`, counted in the figures (Commands run of those registered, per label). */
    async up(label: string, config: Record<string, string>): Promise<UpResult & { ms: number }> {
        this.lastConfig = config;
        const r = await this.stack.up(label, config, ["mongoUrl", "failoverApiToken"]);
        const cmds = r.journal.filter((j) => j.type.startsWith("command:remote:"));
        const ran = cmds.filter((j) => j.action !== "same").length;
        this.figures.commands.run += ran;
        this.figures.commands.total += cmds.length;
        (this.figures.commandsPerUp ??= {})[label] = `${ran}/${cmds.length}`;
        if (r.outputs) this.outputs = r.outputs;
        return r;
    }

    /**
     * Builds a sample-app bundle into the data dir (sample-app/build.js arguments). Its star.json records the
     * mirror's Node.js version: with nodeVersion auto (unset here) that is what the hosts install.
     */
    async bundle(name: string, args: string[]): Promise<Bundle> {
        const file = path.join(DATA_DIR, "bundles", `${name}.tgz`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const build = path.join(ROOT, "sample-app", "build.js");
        const child = spawn(process.execPath, [build, "--out", file, "--node-version", this.nodeVersion, ...args], {
            cwd: ROOT,
            stdio: ["ignore", "ignore", "inherit"],
        });
        const code = await new Promise((resolve) => child.on("close", resolve));
        if (code !== 0) throw new Error(`sample bundle ${name} failed (${code})`);
        return { file, sha256: sha256File(file) };
    }

    /**
     * Load generator and DDP clients in the client namespace (load.ts; `pingMs`: the DDP clients' heartbeat);
     * stop() returns its summary.
     */
    async startLoad(ddpCount: number, pingMs?: number): Promise<{ stop: () => Promise<LoadSummary> }> {
        const addresses = clientAddresses();
        const opts = {
            host: this.site,
            addresses: addresses.slice(0, 20),
            ddpAddresses: addresses.slice(20, 20 + ddpCount),
            intervalMs: 100,
            pingMs,
        };
        const load = path.join(__dirname, "load.ts");
        const argv = ["netns", "exec", CLIENT_NS, process.execPath, "-r", "ts-node/register/transpile-only", load];
        const child = spawn("ip", [...argv, JSON.stringify(opts)], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        if (!(await this.until("load generator ready", 30000, async () => out.includes("ready\n"), 100))) {
            killPid(child.pid);
            throw new Error("load generator did not start");
        }
        await sleep(1000); // steady state before the change
        return {
            stop: async () => {
                child.stdin.end("stop\n");
                const exited = async () => child.exitCode !== null;
                if (!(await this.until("load generator exit", 20000, exited, 100))) killPid(child.pid);
                return JSON.parse(out.trim().split("\n").pop() ?? "{}");
            },
        };
    }
}
