import { execCommandLine } from "../../ops/exec";
import {
    appStatusProbe,
    checkSince,
    journalCommand,
    lbStatusProbe,
    releasesProbe,
    rollbackCommand,
} from "../../ops/remote";
import {
    duration,
    formatJournalLine,
    mergeJournals,
    parseAppStatus,
    parseJournalLine,
    parseLbStatus,
} from "../../ops/report";
import { parseReleases, planRollback, recordCommand } from "../../ops/rollback";
import { pinnedKnownHosts, sshArgv, sshConfig, sshFiles } from "../../lib/ssh";
import { statusReport } from "../../ops/status";
import { findHost, OpsTarget, parseOutputs } from "../../ops/target";
import { outputs } from "./opsFixture";

// The ops command's pure parts: what it runs on the hosts (exact strings), how it reads the answers, and
// the rollback plan. test/unit/ops-cli.test.ts runs the command itself against a stand-in ssh.

const A = "a".repeat(64);
const B = "b".repeat(64);
const C = "c".repeat(64);

const t: OpsTarget = parseOutputs("staging", outputs);

describe("stack outputs", () => {
    test("the ops output becomes the target", () => {
        expect(t.stack).toBe("staging");
        expect(t.hosts.map((h) => h.name)).toEqual(["app-1", "app-2"]);
        expect(t.lb.publicIp).toBe("203.0.113.250");
        expect(findHost(t, "mdo-staging-app-2").name).toBe("app-2");
    });

    test.each([
        [{ siteUrl: "x" }, 'stack staging has no "ops" output'],
        [{ ops: { ...outputs.ops, hosts: [] } }, "hosts is empty"],
        [{ ops: { ...outputs.ops, user: "root; id" } }, 'user is "root; id"'],
        [{ ops: { ...outputs.ops, release: "abc" } }, 'release is "abc"'],
        [
            { ops: { ...outputs.ops, lb: { ...outputs.ops.lb, publicIp: "example.com" } } },
            'lb.publicIp is "example.com"',
        ],
        [
            { ops: { ...outputs.ops, hosts: [{ ...outputs.ops.hosts[0], privateIp: "10.0.0.300" }] } },
            'hosts[0].privateIp is "10.0.0.300"',
        ],
        [
            { ops: { ...outputs.ops, cutover: { ...outputs.ops.cutover, keepReleases: 1 } } },
            "cutover.keepReleases is 1",
        ],
    ])("unusable outputs fail naming the field (%#)", (bad, message) => {
        expect(() => parseOutputs("staging", bad)).toThrow(message);
    });

    test("--host names an app host, or the error lists them", () => {
        expect(() => findHost(t, "app-9")).toThrow(
            '--host "app-9" is not an app host of stack staging; hosts: app-1, app-2',
        );
    });
});

describe("ssh", () => {
    test("per-stack files", () => {
        expect(sshFiles("acme/meteor-do/prod", "/x")).toEqual({
            dir: "/x/acme_meteor-do_prod",
            config: "/x/acme_meteor-do_prod/ssh_config",
            knownHosts: "/x/acme_meteor-do_prod/known_hosts",
        });
    });

    test("ssh_config: the LB by its public address, app hosts through it, keys by droplet id", () => {
        expect(sshConfig(t, { knownHosts: "/s/known hosts", identity: "/k/id_ed25519" })).toBe(
            [
                "# meteor-do ops: stack staging (written by `npm run ops`; no secrets)",
                "Host lb mdo-staging-lb",
                "    HostName 203.0.113.250",
                "    HostKeyAlias meteor-do-droplet-401",
                "Host app-1 mdo-staging-app-1",
                "    HostName 10.10.0.3",
                "    HostKeyAlias meteor-do-droplet-402",
                "    ProxyJump lb",
                "Host app-2 mdo-staging-app-2",
                "    HostName 10.10.0.4",
                "    HostKeyAlias meteor-do-droplet-403",
                "    ProxyJump lb",
                "Host *",
                "    User ops",
                '    UserKnownHostsFile "/s/known hosts"',
                "    StrictHostKeyChecking accept-new",
                "    GlobalKnownHostsFile /dev/null",
                "    UpdateHostKeys no",
                '    IdentityFile "/k/id_ed25519"',
                "    IdentitiesOnly yes",
                "    ConnectTimeout 15",
                "    ServerAliveInterval 15",
                "    ServerAliveCountMax 4",
                "    LogLevel ERROR",
                "",
            ].join("\n"),
        );
    });

    test("the program's host keys in the ops output become a pinned known_hosts, one entry per droplet id", () => {
        const key = (n: number) => `ssh-ed25519 ${Buffer.from(`host key ${n}`).toString("base64")}`;
        const withKeys = parseOutputs("staging", {
            ops: {
                ...outputs.ops,
                lb: { ...outputs.ops.lb, hostKey: key(1) },
                hosts: outputs.ops.hosts.map((h, i) => ({ ...h, hostKey: key(i + 2) })),
            },
        });
        expect(pinnedKnownHosts(withKeys)).toBe(
            [
                `meteor-do-droplet-${withKeys.lb.dropletId} ${key(1)}`,
                `meteor-do-droplet-402 ${key(2)}`,
                `meteor-do-droplet-403 ${key(3)}`,
                "",
            ].join("\n"),
        );
        // A stack deployed before host keys existed: nothing to pin (ops records keys on first sight).
        expect(pinnedKnownHosts(t)).toBeUndefined();
        expect(() =>
            parseOutputs("staging", { ops: { ...outputs.ops, lb: { ...outputs.ops.lb, hostKey: "ssh-rsa x\n*" } } }),
        ).toThrow('lb.hostKey is "ssh-rsa x\\n*"');
    });

    test("pinned host keys are one option away", () => {
        const pinned = sshConfig(t, { knownHosts: "/s/k", hostKeyPolicy: "pinned" });
        expect(pinned).toContain("    StrictHostKeyChecking yes\n");
        expect(pinned).not.toContain("accept-new");
        expect(pinned).not.toContain("IdentityFile");
    });

    test("argv: batch mode for commands, a terminal for a shell", () => {
        expect(sshArgv("/s/c", "app-1", "uname -r")).toEqual([
            "ssh",
            "-F",
            "/s/c",
            "-o",
            "BatchMode=yes",
            "-T",
            "app-1",
            "uname -r",
        ]);
        expect(sshArgv("/s/c", "lb", undefined, true)).toEqual(["ssh", "-F", "/s/c", "-t", "lb"]);
    });
});

describe("remote commands", () => {
    test("app status probe", () => {
        expect(appStatusProbe()).toBe(
            `printf 'release=%s\\n' "$(readlink /srv/meteor/current)"; ` +
                `printf 'node=%s\\n' "$(/usr/local/bin/node --version 2>/dev/null)"; ` +
                "systemctl show --timestamp=unix --property=ActiveState,ActiveEnterTimestamp meteor-app; " +
                `printf 'now=%s\\n' "$(date +%s)"; ` +
                `printf 'label=%s\\n' "$(sed -n 's/.*"meteorRelease"[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p' /srv/meteor/current/bundle/star.json 2>/dev/null | head -n 1)"`,
        );
    });

    test("LB status probe", () => {
        expect(lbStatusProbe()).toBe(
            `printf 'peers=%s\\n' "$(curl -fsS --max-time 5 http://127.0.0.1:8181/lb/peers)"; ` +
                `printf 'config=%s\\n' "$(curl -fsS --max-time 5 http://127.0.0.1:8181/lb/config)"; ` +
                `expiry=$(curl -skv -o /dev/null --max-time 5 https://127.0.0.1/ 2>&1 | sed -n 's/^\\*  expire date: //p' | head -n 1); ` +
                `printf 'certExpires=%s\\n' "$(if [ -n "$expiry" ]; then date -u -d "$expiry" +%Y-%m-%dT%H:%M:%SZ; fi)"`,
        );
    });

    test.each([
        [{}, "journalctl --unit=meteor-app --output=short-unix --no-pager --quiet"],
        [{ lines: 5 }, "journalctl --unit=meteor-app --output=short-unix --no-pager --quiet --lines=5"],
        [
            { lines: 50, since: "-1h", follow: true },
            "journalctl --unit=meteor-app --output=short-unix --no-pager --quiet --lines=50 --since=-1h --follow",
        ],
        [
            { since: "2026-11-29 21:00" },
            "journalctl --unit=meteor-app --output=short-unix --no-pager --quiet --since='2026-11-29 21:00'",
        ],
    ])("journal %j", (o, expected) => {
        expect(journalCommand(o)).toBe(expected);
    });

    test.each(["$(reboot)", "1h; id", "`id`", "a'b", ""])("--since %j is refused", (since) => {
        expect(() => checkSince(since)).toThrow("--since");
    });

    test("releases probe", () => {
        expect(releasesProbe()).toBe(
            `printf 'current=%s\\n' "$(readlink /srv/meteor/current)"; ` +
                `printf 'previous=%s\\n' "$(readlink /srv/meteor/previous)"; ` +
                `for d in /srv/meteor/releases/*/; do if [ -f "$d/RELEASE" ] && [ -f "$d/bundle/main.js" ]; then printf 'staged=%s\\n' "$(basename "$d")"; fi; done`,
        );
    });

    test("rollback: the deploy's cutover with the live env, nothing on stdin", () => {
        expect(rollbackCommand(B, "10.10.0.3", 3000, "10.10.0.2", t.cutover)).toBe(
            `sudo /usr/local/lib/meteor-do/cutover.sh --release ${B} --peer 10.10.0.3:3000 --lb 10.10.0.2 ` +
                "--health-path / --keep 3 --restart-timeout 60 --health-timeout 20 --lb-timeout 20 --env live",
        );
    });

    test("exec: the words for the remote shell, as ssh joins them", () => {
        expect(execCommandLine(["uname", "-r"])).toBe("uname -r");
        expect(execCommandLine(["ls /srv/meteor | wc -l"])).toBe("ls /srv/meteor | wc -l");
        expect(() => execCommandLine([])).toThrow("exec needs a command after --");
    });
});

describe("answers", () => {
    test("app status", () => {
        const s = parseAppStatus(
            [
                `release=releases/${A}`,
                "node=v22.12.0",
                "ActiveState=active",
                "ActiveEnterTimestamp=@1700000000",
                "now=1700003725",
                "label=METEOR@3.0.4",
            ].join("\n"),
        );
        expect(s).toEqual({ release: A, label: "METEOR@3.0.4", node: "v22.12.0", active: true, uptimeSeconds: 3725 });
        expect(parseAppStatus("release=\nnode=\nActiveState=inactive\nActiveEnterTimestamp=\nnow=5\nlabel=")).toEqual({
            release: undefined,
            label: undefined,
            node: undefined,
            active: false,
            uptimeSeconds: undefined,
        });
    });

    test("LB status", () => {
        const lb = parseLbStatus(
            [
                'peers={"peers":[{"name":"10.10.0.3:3000","status":"up","draining":false},{"name":"10.10.0.4:3000","status":"up","draining":true}]}',
                'config={"release":"x","generation":4,"peers":2}',
                "certExpires=2027-02-01T00:00:00Z",
            ].join("\n"),
        );
        expect(lb.generation).toBe(4);
        expect(lb.certExpires).toBe("2027-02-01T00:00:00Z");
        expect(lb.peers.map((p) => p.name)).toEqual(["10.10.0.3:3000", "10.10.0.4:3000"]);
        expect(parseLbStatus("peers=\nconfig=oops")).toEqual({
            peers: [],
            generation: undefined,
            certExpires: undefined,
        });
    });

    test.each([
        [12, "12s"],
        [250, "4m 10s"],
        [7500, "2h 5m"],
        [273600, "3d 4h"],
    ])("duration %i s = %s", (s, text) => expect(duration(s)).toBe(text));

    test("status table", () => {
        const report = statusReport(
            t,
            [
                { release: A, label: "METEOR@3.0.4", node: "v22.12.0", active: true, uptimeSeconds: 250 },
                { release: B, node: "v22.12.0", active: false },
            ],
            {
                peers: [
                    { name: "10.10.0.3:3000", status: "up", draining: false },
                    { name: "10.10.0.4:3000", status: "down", draining: true },
                ],
                generation: 4,
                certExpires: "2027-02-01T00:00:00Z",
            },
        );
        expect(report).toBe(
            [
                "HOST               PRIVATE IP  LB        RELEASE                         NODE      UPTIME",
                "mdo-staging-app-1  10.10.0.3   up        aaaaaaaaaaaa METEOR@3.0.4       v22.12.0  4m 10s",
                "mdo-staging-app-2  10.10.0.4   draining  bbbbbbbbbbbb (not the stack's)  v22.12.0  stopped",
                "",
                "load balancer mdo-staging-lb (203.0.113.250): config generation 4, certificate expires 2027-02-01T00:00:00Z",
                "stack release aaaaaaaaaaaa",
            ].join("\n"),
        );
    });

    test("a host that did not answer shows ?", () => {
        const report = statusReport(t, [undefined, undefined], undefined);
        expect(report.split("\n")[1]).toBe("mdo-staging-app-1  10.10.0.3   ?   ?        ?     ?");
        expect(report).toContain("config generation ?, certificate expires ?");
    });

    test("journal lines of several hosts merge in time order; lines without a time stay in place", () => {
        const one = [
            "1700000001.500000 mdo-app-1 node[10]: b",
            "  continued",
            "1700000003.000000 mdo-app-1 node[10]: d",
        ];
        const two = ["1700000000.250000 mdo-app-2 node[11]: a", "1700000002.000000 mdo-app-2 node[11]: c"];
        const merged = mergeJournals([
            one.map((l) => parseJournalLine("app-1", l)),
            two.map((l) => parseJournalLine("app-2", l)),
        ]);
        expect(merged.map((l) => formatJournalLine(l, 5))).toEqual([
            "app-2 | 2023-11-14T22:13:20.250Z node[11]: a",
            "app-1 | 2023-11-14T22:13:21.500Z node[10]: b",
            "app-1 |   continued",
            "app-2 | 2023-11-14T22:13:22.000Z node[11]: c",
            "app-1 | 2023-11-14T22:13:23.000Z node[10]: d",
        ]);
    });
});

describe("rollback plan", () => {
    const kept = (current: string, previous: string | undefined, ...staged: string[]) =>
        parseReleases(
            [
                `current=releases/${current}`,
                `previous=${previous ? `releases/${previous}` : ""}`,
                ...staged.map((s) => `staged=${s}`),
            ].join("\n"),
        );

    test("default: the previous release of the hosts on the stack's release", () => {
        expect(planRollback(t, [kept(A, B, A, B, C), kept(A, B, A, B)])).toEqual({
            target: B,
            hosts: t.hosts,
        });
    });

    test("a host already there is skipped (a deploy that stopped half way)", () => {
        expect(planRollback(t, [kept(A, B, A, B), kept(B, C, A, B)]).hosts.map((h) => h.name)).toEqual(["app-1"]);
    });

    test("--to takes a prefix of a kept release", () => {
        expect(planRollback(t, [kept(A, B, A, B, C), kept(A, B, A, B, C)], "ccccccc").target).toBe(C);
    });

    test("a host that no longer keeps the release: refused before anything changes, naming the host", () => {
        expect(() => planRollback(t, [kept(A, B, A, B, C), kept(A, B, A, B)], "ccccccc")).toThrow(
            "app-2 (mdo-staging-app-2) no longer has release cccccccccccc; it keeps aaaaaaaaaaaa, bbbbbbbbbbbb. Nothing was changed.",
        );
    });

    test.each([
        ["abc", "--to must be a release's sha256"],
        ["ddddddd", "no app host keeps a release ddddddd; kept: aaaaaaaaaaaa, bbbbbbbbbbbb. Nothing was changed."],
    ])("--to %s is refused", (to, message) => {
        expect(() => planRollback(t, [kept(A, B, A, B), kept(A, B, A, B)], to)).toThrow(message);
    });

    test("no host on the stack's release, or no agreement on previous: --to is needed", () => {
        expect(() => planRollback(t, [kept(B, C, B, C), kept(B, C, B, C)])).toThrow(
            "no app host runs the stack's release aaaaaaaaaaaa",
        );
        expect(() => planRollback(t, [kept(A, B, A, B, C), kept(A, C, A, B, C)])).toThrow(
            "do not agree on their previous release (bbbbbbbbbbbb, cccccccccccc)",
        );
    });

    test("the record: config rollback.from/to, or removed when going back to the bundle itself", () => {
        expect(recordCommand(t, B).join(" ")).toBe(
            `pulumi config set-all --path --plaintext meteor-do:rollback.from=${A} --plaintext meteor-do:rollback.to=${B} --stack staging`,
        );
        expect(recordCommand(t, A).join(" ")).toBe("pulumi config rm meteor-do:rollback --stack staging");
    });
});
