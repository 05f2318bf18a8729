import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { help, main } from "../../ops/cli";
import { callLog } from "../support/files";
import { outputs } from "./opsFixture";

// `npm run ops` end to end against a stand-in `ssh` on PATH: it records each call (host and command) and
// answers from per-host files, so the commands' wiring, order, output and exit codes are checked here;
// the e2e runs them against real hosts.

const A = "a".repeat(64);
const B = "b".repeat(64);

const fakeSsh = `#!/usr/bin/env bash
# argv: -F <config> (-o BatchMode=yes -T | -t) <host> [command]
set -u
config=$2; shift 2
while [[ $1 == -* ]]; do if [[ $1 == -o ]]; then shift 2; else shift; fi; done
host=$1 cmd=\${2:-}
printf '%s\\t%s\\t%s\\n' "$config" "$host" "$cmd" >>"$FAKE/calls"
case $cmd in
  *lb/peers*) kind=lb ;;
  *ActiveEnterTimestamp*) kind=status ;;
  journalctl*) kind=journal ;;
  *cutover.sh*) kind=cutover ;;
  *releases/*) kind=releases ;;
  *) kind=exec ;;
esac
f=$FAKE/$host.$kind
[[ -f $f ]] && cat "$f"
[[ -f $f.err ]] && cat "$f.err" >&2
if [[ -f $f.code ]]; then exit "$(cat "$f.code")"; fi
exit 0
`;

let dir: string;
let io: { out: string[]; err: string[] };
const savedPath = process.env.PATH;
const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, "fake", name), text);
const calls = () => callLog(path.join(dir, "fake", "calls"));
const ops = (command: string, ...args: string[]) =>
    main([command, "--stack", "staging", "--outputs", path.join(dir, "outputs.json"), "--state-dir", dir, ...args], {
        out: (s) => io.out.push(s),
        err: (s) => io.err.push(s),
    });

beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "ops-cli-"));
    fs.mkdirSync(path.join(dir, "bin"));
    fs.mkdirSync(path.join(dir, "fake"));
    fs.writeFileSync(path.join(dir, "bin", "ssh"), fakeSsh, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, "outputs.json"), JSON.stringify(outputs));
    fs.writeFileSync(path.join(dir, "fake", "calls"), "");
    process.env.PATH = `${path.join(dir, "bin")}:${savedPath}`;
    process.env.FAKE = path.join(dir, "fake");
    io = { out: [], err: [] };
});
afterEach(() => {
    process.env.PATH = savedPath;
    fs.rmSync(dir, { recursive: true, force: true });
});

test("--help lists every command with an example", async () => {
    expect(await main(["--help"], { out: (s) => io.out.push(s), err: () => undefined })).toBe(0);
    for (const command of ["status", "logs", "ssh", "exec", "rollback", "failover"])
        expect(io.out[0]).toMatch(new RegExp(`^  ${command}\\b[^]*?\\n      npm run ops -- ${command} `, "m"));
    expect(io.out[0]).toBe(help);
});

test.each([
    [["bogus"], 'unknown command "bogus"; one of status, logs, ssh, exec, rollback, failover, help'],
    [["status", "extra"], 'status: unexpected "extra"'],
    [["exec", "uname"], 'exec: unexpected "uname" (put the command after --)'],
    [["exec"], "exec needs a command after --"],
    [["logs", "--lines", "x"], '--lines must be a whole number, got "x"'],
    [["logs", "--host", "app-9"], '--host "app-9" is not an app host of stack staging'],
])("bad arguments %j fail clearly", async ([command, ...args], message) => {
    await expect(ops(command, ...args)).rejects.toThrow(message);
});

test("status: one row per host from its probe and the LB's view; ssh_config written per stack", async () => {
    write(
        "lb.lb",
        'peers={"peers":[{"name":"10.10.0.3:3000","status":"up","draining":false},{"name":"10.10.0.4:3000","status":"down","draining":false}]}\nconfig={"generation":7}\ncertExpires=2027-02-01T00:00:00Z\n',
    );
    write(
        "app-1.status",
        `release=releases/${A}\nnode=v22.12.0\nActiveState=active\nActiveEnterTimestamp=@100\nnow=160\nlabel=\n`,
    );
    write("app-2.status", `release=releases/${A}\nnode=v22.12.0\nActiveState=failed\nActiveEnterTimestamp=\nnow=160\n`);
    expect(await ops("status")).toBe(0);
    expect(io.out.join("\n")).toBe(
        [
            "HOST               PRIVATE IP  LB    RELEASE       NODE      UPTIME",
            "mdo-staging-app-1  10.10.0.3   up    aaaaaaaaaaaa  v22.12.0  1m 0s",
            "mdo-staging-app-2  10.10.0.4   down  aaaaaaaaaaaa  v22.12.0  stopped",
            "",
            "load balancer mdo-staging-lb (203.0.113.250): config generation 7, certificate expires 2027-02-01T00:00:00Z",
            "stack release aaaaaaaaaaaa",
        ].join("\n"),
    );
    const config = path.join(dir, "staging", "ssh_config");
    expect(calls().map(([c, h]) => [c, h])).toEqual(
        expect.arrayContaining([
            [config, "lb"],
            [config, "app-1"],
            [config, "app-2"],
        ]),
    );
    expect(fs.readFileSync(config, "utf8")).toContain(
        `UserKnownHostsFile "${path.join(dir, "staging", "known_hosts")}"`,
    );
});

test("status: a host that does not answer is ? and the exit code is 1", async () => {
    write("app-2.status.code", "255");
    write("app-2.status.err", "ssh: connect to host 10.10.0.4 port 22: No route to host\n");
    expect(await ops("status")).toBe(1);
    expect(io.out.join("\n")).toMatch(/^mdo-staging-app-2 +10\.10\.0\.4 +unknown +\? +\? +\?$/m);
    expect(io.out.join("\n")).toContain(
        "could not read app-2: ssh: connect to host 10.10.0.4 port 22: No route to host",
    );
});

test("logs: every host's last lines, merged in time order, host name first", async () => {
    write("app-1.journal", "1700000001.000000 h1 node[1]: one-b\n1700000003.000000 h1 node[1]: one-d\n");
    write("app-2.journal", "1700000000.000000 h2 node[2]: two-a\n1700000002.000000 h2 node[2]: two-c\n");
    expect(await ops("logs", "--lines", "5")).toBe(0);
    expect(io.out.map((l) => l.replace(/ \d{4}-\S+Z/, ""))).toEqual([
        "app-2 | node[2]: two-a",
        "app-1 | node[1]: one-b",
        "app-2 | node[2]: two-c",
        "app-1 | node[1]: one-d",
    ]);
    expect(calls().map(([, h, c]) => [h, c])).toEqual(
        expect.arrayContaining([
            ["app-1", "journalctl --unit=meteor-app --output=short-unix --no-pager --quiet --lines=5"],
            ["app-2", "journalctl --unit=meteor-app --output=short-unix --no-pager --quiet --lines=5"],
        ]),
    );
});

test("logs --host: that host only", async () => {
    write("app-2.journal", "1700000000.000000 h2 node[2]: two-a\n");
    expect(await ops("logs", "--host", "mdo-staging-app-2", "--since", "-1h")).toBe(0);
    expect(calls().map(([, h]) => h)).toEqual(["app-2"]);
    expect(io.out).toEqual(["app-2 | 2023-11-14T22:13:20.000Z node[2]: two-a"]);
});

test("exec: every host in turn, output per host, non-zero when one failed", async () => {
    write("app-1.exec", "6.1.0-28-amd64\n");
    write("app-2.exec.err", "uname: oops\n");
    write("app-2.exec.code", "3");
    expect(await ops("exec", "--", "uname", "-r")).toBe(1);
    expect(calls().map(([, h, c]) => [h, c])).toEqual([
        ["app-1", "uname -r"],
        ["app-2", "uname -r"],
    ]);
    expect(io.out).toEqual([
        "── app-1 (mdo-staging-app-1, 10.10.0.3): exit 0",
        "6.1.0-28-amd64",
        "── app-2 (mdo-staging-app-2, 10.10.0.4): exit 3",
        "uname: oops",
        "failed on app-2",
    ]);
});

describe("rollback", () => {
    const releases = `current=releases/${A}\nprevious=releases/${B}\nstaged=${A}\nstaged=${B}\n`;
    const cutover = (ip: string) =>
        `sudo /usr/local/lib/meteor-do/cutover.sh --release ${B} --peer ${ip}:3000 --lb 10.10.0.2 --health-path / --keep 3 --restart-timeout 60 --health-timeout 20 --lb-timeout 20 --env live`;

    test("host by host through the cutover, then the record", async () => {
        write("app-1.releases", releases);
        write("app-2.releases", releases);
        write("app-1.cutover", "cutover.sh: cut over to bbbb\n");
        expect(await ops("rollback")).toBe(0);
        expect(
            calls()
                .filter(([, , c]) => c.includes("cutover.sh"))
                .map(([, h, c]) => [h, c]),
        ).toEqual([
            ["app-1", cutover("10.10.0.3")],
            ["app-2", cutover("10.10.0.4")],
        ]);
        expect(io.out[0]).toBe("rolling back to bbbbbbbbbbbb: app-1, app-2");
        expect(io.out).toContain("app-1 | cutover.sh: cut over to bbbb");
        expect(io.out[io.out.length - 1]).toBe(
            `record the rollback in the stack: pulumi config set-all --path --plaintext meteor-do:rollback.from=${A} --plaintext meteor-do:rollback.to=${B} --stack staging`,
        );
    });

    test("a failed cutover stops the roll: the next host is untouched and nothing is recorded", async () => {
        write("app-1.releases", releases);
        write("app-2.releases", releases);
        write("app-1.cutover.code", "1");
        expect(await ops("rollback")).toBe(1);
        expect(
            calls()
                .filter(([, , c]) => c.includes("cutover.sh"))
                .map(([, h]) => h),
        ).toEqual(["app-1"]);
        expect(io.out[io.out.length - 1]).toBe(
            "rollback stopped at app-1 (its cutover put it back on its release): no host on bbbbbbbbbbbb",
        );
    });

    test("a host without the release: refused before any cutover", async () => {
        write("app-1.releases", releases);
        write("app-2.releases", `current=releases/${A}\nprevious=releases/${B}\nstaged=${A}\n`);
        await expect(ops("rollback")).rejects.toThrow(
            "app-2 (mdo-staging-app-2) no longer has release bbbbbbbbbbbb; it keeps aaaaaaaaaaaa. Nothing was changed.",
        );
        expect(calls().some(([, , c]) => c.includes("cutover.sh"))).toBe(false);
    });
});
