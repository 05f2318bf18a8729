// reboot-window.sh against a stand-in for the LB's admin API and for systemctl (which records what it was
// asked): the units it installs, and when `run` reboots (a reboot required, no deploy holding the lock,
// every other app host up and serving) and when it waits for the next window.
import { execFileSync, spawn } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { hostTool } from "../support/hostTools";
import { run } from "../support/processes";

jest.setTimeout(60_000);

const ME = "10.0.0.5:3000";
let tmp: string;
let server: http.Server;
let port: number;
let peers: { name: string; status: string; draining: boolean }[];
let posts: string[];

const file = (name: string) => path.join(tmp, name);
const calls = () => (fs.existsSync(file("systemctl.log")) ? fs.readFileSync(file("systemctl.log"), "utf8") : "");

function script(args: string[]) {
    return run(hostTool("reboot-window.sh"), args, {
        env: {
            PATH: process.env.PATH,
            METEOR_DO_APP_ROOT: tmp,
            METEOR_DO_ENV_ROOT: tmp,
            METEOR_DO_LB_PORT: String(port),
            REBOOT_UNIT_DIR: file("units"),
            REBOOT_REQUIRED_FILE: file("reboot-required"),
            REBOOT_MARK: file("state/drained-for-reboot"),
            REBOOT_SYSTEMCTL: file("systemctl"),
            REBOOT_HOLD_SECONDS: "0",
            REBOOT_RESUME_TRIES: "3",
        },
        timeoutMs: 30_000,
    });
}

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-reboot-"));
    fs.mkdirSync(file("units"));
    fs.writeFileSync(file("systemctl"), `#!/bin/sh\necho "$*" >>${file("systemctl.log")}\n`, { mode: 0o755 });
    server = http.createServer((req, res) => {
        const url = req.url ?? "";
        if (req.method === "POST") posts.push(url);
        const body = url === "/lb/peers" ? { peers } : (peers.find((p) => url.startsWith(`/lb/peers/${p.name}`)) ?? {});
        res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as net.AddressInfo).port;
});

afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    fs.rmSync(tmp, { recursive: true, force: true });
});

beforeEach(() => {
    peers = [
        { name: ME, status: "up", draining: false },
        { name: "10.0.0.6:3000", status: "up", draining: false },
    ];
    posts = [];
    fs.rmSync(file("systemctl.log"), { force: true });
    fs.writeFileSync(file("reboot-required"), "*** System restart required ***\n");
});

test("install writes the timer for the window, the job and the resume unit, once", async () => {
    const r = await script(["install", "04:30", ME, "127.0.0.1"]);
    expect(r.stdout).toBe("reboot-window.sh: reboot window 04:30 UTC installed\n");
    const self = fs.realpathSync(hostTool("reboot-window.sh"));
    expect(fs.readFileSync(file("units/meteor-do-reboot.timer"), "utf8")).toContain("OnCalendar=*-*-* 04:30:00 UTC\n");
    expect(fs.readFileSync(file("units/meteor-do-reboot.service"), "utf8")).toContain(
        `ExecStart=${self} run ${ME} 127.0.0.1\n`,
    );
    expect(fs.readFileSync(file("units/meteor-do-resume.service"), "utf8")).toContain(
        `ConditionPathExists=${file("state/drained-for-reboot")}\n`,
    );
    expect(calls()).toBe("daemon-reload\nenable --now meteor-do-reboot.timer\nenable meteor-do-resume.service\n");
    fs.rmSync(file("systemctl.log"));
    expect((await script(["install", "04:30", ME, "127.0.0.1"])).stdout).toContain("already installed");
    expect(calls()).toBe("");
    const bad = await script(["install", "4:30", ME, "127.0.0.1"]);
    expect([bad.code, bad.stderr]).toEqual([
        1,
        "reboot-window.sh: error: the window must be HH:MM (UTC), got '4:30'\n",
    ]);
});

test("run: a required reboot with every other host serving drains, stops the app, marks and reboots", async () => {
    const r = await script(["run", ME, "127.0.0.1"]);
    expect(r.code).toBe(0);
    expect(posts).toEqual([`/lb/peers/${ME}/drain`]);
    expect(calls()).toBe("stop meteor-app\nreboot\n");
    expect(fs.existsSync(file("state/drained-for-reboot"))).toBe(true);

    // resume (at boot): undrains once the LB sees the host up, and forgets the mark.
    posts = [];
    const resumed = await script(["resume", ME, "127.0.0.1"]);
    expect(resumed.stdout).toBe("reboot-window.sh: undrained after the reboot\n");
    expect(posts).toEqual([`/lb/peers/${ME}/undrain`]);
    expect(fs.existsSync(file("state/drained-for-reboot"))).toBe(false);
});

test.each([
    ["no reboot is required", () => fs.rmSync(file("reboot-required")), "no reboot required"],
    [
        "another host is drained",
        () => (peers[1].draining = true),
        "other app hosts are down or drained (10.0.0.6:3000): next window",
    ],
    [
        "another host is down",
        () => (peers[1].status = "down"),
        "other app hosts are down or drained (10.0.0.6:3000): next window",
    ],
])("run waits for the next window when %s", async (_what, arrange, message) => {
    arrange();
    const r = await script(["run", ME, "127.0.0.1"]);
    expect([r.code, r.stdout]).toEqual([0, `reboot-window.sh: ${message}\n`]);
    expect(posts).toEqual([]);
    expect(calls()).toBe("");
});

test("run waits for the next window while a deploy holds the lock", async () => {
    const holder = spawn("flock", [path.join(tmp, ".deploy.lock"), "sleep", "10"], { stdio: "ignore" });
    try {
        execFileSync("sleep", ["0.3"]);
        const r = await script(["run", ME, "127.0.0.1"]);
        expect(r.stdout).toBe(
            `reboot-window.sh: a deploy holds ${path.join(tmp, ".deploy.lock")}: reboot in the next window\n`,
        );
        expect(posts).toEqual([]);
        expect(calls()).toBe("");
    } finally {
        holder.kill("SIGKILL");
    }
});
