import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../ops/cli";
import { callLog } from "../support/files";
import { outputs } from "./opsFixture";

// `npm run ops -- failover` against a stand-in `ssh` that plays two LBs: each answers lb-role.sh show from
// its role file, and a step-down makes it `fault` and the other `active` (keepalived's part), a step-up
// makes it `standby`. The e2e's lb-failover step does it against real hosts.

const fakeSsh = `#!/usr/bin/env bash
set -u
shift 2
while [[ $1 == -* ]]; do if [[ $1 == -o ]]; then shift 2; else shift; fi; done
host=$1 cmd=\${2:-}
printf '%s\\t%s\\n' "$host" "$cmd" >>"$FAKE/calls"
other=lb; [[ $host == lb ]] && other=lb-1
case $cmd in
  *"lb-role.sh show"*)
    printf 'role=%s\\n' "$(cat "$FAKE/$host.role")"
    if [[ -f $FAKE/$host.nginx-down ]]; then echo nginx=down; else echo nginx=up; fi ;;
  *"lb-role.sh step-down") echo fault >"$FAKE/$host.role"; echo active >"$FAKE/$other.role" ;;
  *"lb-role.sh step-up") echo standby >"$FAKE/$host.role" ;;
  *) exit 9 ;;
esac
`;

const lbs = [
    { name: "lb", droplet: "mdo-prod-lb", dropletId: "401", publicIp: "203.0.113.11", privateIp: "10.10.0.2" },
    { name: "lb-1", droplet: "mdo-prod-lb-1", dropletId: "405", publicIp: "203.0.113.12", privateIp: "10.10.0.5" },
];

let dir: string;
let out: string[];
const savedPath = process.env.PATH;
const fake = (name: string, text: string) => fs.writeFileSync(path.join(dir, "fake", name), text);
const calls = () => callLog(path.join(dir, "fake", "calls"));
const failover = (withLbs = true) => {
    fs.writeFileSync(
        path.join(dir, "outputs.json"),
        JSON.stringify({ ...outputs, ops: { ...outputs.ops, ...(withLbs ? { lbs } : {}) } }),
    );
    return main(["failover", "--stack", "prod", "--outputs", path.join(dir, "outputs.json"), "--state-dir", dir], {
        out: (s) => out.push(s),
        err: (s) => out.push(s),
    });
};

beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ops-failover-"));
    for (const d of ["bin", "fake"]) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(path.join(dir, "bin", "ssh"), fakeSsh, { mode: 0o755 });
    fake("calls", "");
    fake("lb.role", "active\n");
    fake("lb-1.role", "standby\n");
    process.env.PATH = `${path.join(dir, "bin")}:${savedPath}`;
    process.env.FAKE = path.join(dir, "fake");
    out = [];
});
afterEach(() => {
    process.env.PATH = savedPath;
    fs.rmSync(dir, { recursive: true, force: true });
});

test("moves the address to the standby: step down, wait until it is active, step up, the old one standby", async () => {
    expect(await failover()).toBe(0);
    const steps = calls().map(([host, cmd]) => `${host} ${cmd.includes("step-") ? cmd.split(" ").pop() : "show"}`);
    expect(steps.slice(0, 2).sort()).toEqual(["lb show", "lb-1 show"]);
    expect(steps.slice(2)).toEqual(["lb step-down", "lb-1 show", "lb step-up", "lb show"]);
    expect(out[0]).toBe("lb is active, lb-1 standby: stepping lb down");
    expect(out[1]).toMatch(/^lb-1 is active \(it holds the reserved IP 203\.0\.113\.250\) after [0-9.]+s$/);
    expect(out[2]).toBe("lb is standby");
    // Each LB at its own address, as the ssh_config the run wrote says.
    const config = fs.readFileSync(path.join(dir, "prod", "ssh_config"), "utf8");
    expect(config).toContain("Host lb mdo-staging-lb\n    HostName 203.0.113.11\n");
    expect(config).toContain("Host lb-1 mdo-prod-lb-1\n    HostName 203.0.113.12\n");
});

test("the other way round: lb-1 active", async () => {
    fake("lb.role", "standby\n");
    fake("lb-1.role", "active\n");
    expect(await failover()).toBe(0);
    expect(
        calls()
            .filter(([, c]) => c.includes("step-"))
            .map(([h, c]) => `${h} ${c.split(" ").pop()}`),
    ).toEqual(["lb-1 step-down", "lb-1 step-up"]);
});

test("refuses with one LB, and when the standby is not ready, changing nothing", async () => {
    await expect(failover(false)).rejects.toThrow(
        "stack prod has one load balancer: failover needs lbCount 2 (pulumi config set lbCount 2, and failoverApiToken)",
    );
    fake("lb-1.nginx-down", "");
    await expect(failover()).rejects.toThrow(
        "the standby is not ready to take over, so nothing was changed: lb-1 (mdo-prod-lb-1) is standby, nginx down",
    );
    fake("lb-1.role", "fault\n");
    fs.rmSync(path.join(dir, "fake", "lb-1.nginx-down"));
    await expect(failover()).rejects.toThrow("lb-1 (mdo-prod-lb-1) is fault, nginx up");
    expect(calls().filter(([, c]) => c.includes("step-"))).toEqual([]);
});
