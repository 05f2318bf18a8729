// retire.sh, the delete of a removed host's app-N-retire Command: it drains the peer on the LB before the
// app gets SIGTERM, the app's own grace period runs (fake-service.sh stands in for systemctl stop), and an
// LB that does not answer does not keep the host from stopping.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { FAKE_SERVICE, hostEnv, makeHostRoot } from "../support/fakeHost";
import { tempDir } from "../support/files";
import { hostTool } from "../support/hostTools";
import { freePort } from "../support/ports";
import { run } from "../support/processes";
import { waitFor } from "../support/wait";
import { FakeLb, startFakeLb } from "./fakeLb";

jest.setTimeout(60_000);

let lb: FakeLb;
beforeAll(async () => (lb = await startFakeLb("/")));
afterAll(() => lb.close());

/** An "app" that takes 1 s to close after SIGTERM and notes when it got it and when it exited. */
async function startApp(dir: string): Promise<{ env: NodeJS.ProcessEnv; marks: string }> {
    const root = makeHostRoot(dir);
    const marks = path.join(dir, "marks");
    const app = spawn(
        process.execPath,
        [
            "-e",
            `const fs = require("fs");
             process.on("SIGTERM", () => {
                 fs.appendFileSync(${JSON.stringify(marks)}, "term " + Date.now() + "\\n");
                 setTimeout(() => { fs.appendFileSync(${JSON.stringify(marks)}, "exit " + Date.now() + "\\n"); process.exit(0); }, 1000);
             });
             setInterval(() => {}, 1000);`,
        ],
        { detached: true, stdio: "ignore" },
    );
    app.unref();
    const env = hostEnv({ ...root, stateDir: dir, lbPort: lb.port, stopTimeoutSeconds: 10 });
    fs.writeFileSync(String(env.FAKE_SVC_PIDFILE), String(app.pid));
    return { env: { ...env, METEOR_DO_STOP_CMD: `${FAKE_SERVICE} stop` }, marks };
}

const marksOf = (file: string) =>
    Object.fromEntries(
        fs
            .readFileSync(file, "utf8")
            .trim()
            .split("\n")
            .map((l) => l.split(" "))
            .map(([k, v]) => [k, Number(v)]),
    );

test("drains the peer on the LB, then stops the app with its grace period", async () => {
    const { env, marks } = await startApp(tempDir("retire"));
    const peer = `127.0.0.1:${await freePort()}`;
    lb.calls.length = 0;
    const r = await run(hostTool("retire.sh"), ["--peer", peer, "--lb", "127.0.0.1", "--stop-timeout", "20"], {
        env,
        timeoutMs: 30_000,
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`drained ${peer} on the LB`);
    expect(r.stdout).toMatch(/app stopped in \d+\.\d{3}s; the droplet can go/);
    const drain = lb.calls.find((c) => c.method === "POST" && c.path === `/lb/peers/${peer}/drain`);
    expect(drain).toBeDefined();
    await waitFor("the app's exit mark", async () => "exit" in marksOf(marks), 5000);
    const m = marksOf(marks);
    expect(drain!.at).toBeLessThanOrEqual(m.term);
    expect(m.exit - m.term).toBeGreaterThanOrEqual(900);
});

test("an LB that does not answer is logged and the app is stopped anyway; a bad --peer is refused", async () => {
    const { env, marks } = await startApp(tempDir("retire-nolb"));
    const closed = await freePort();
    const r = await run(hostTool("retire.sh"), ["--peer", "10.0.0.9:3000", "--lb", "127.0.0.1"], {
        env: { ...env, METEOR_DO_LB_PORT: String(closed) },
        timeoutMs: 30_000,
    });
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("the LB answered '000' to drain 10.0.0.9:3000; stopping the app anyway");
    await waitFor("the app's exit mark", async () => fs.existsSync(marks) && "exit" in marksOf(marks), 5000);
    const bad = await run(hostTool("retire.sh"), ["--peer", "nope", "--lb", "127.0.0.1"], { env, timeoutMs: 10_000 });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("--peer must be IP:PORT");
});
