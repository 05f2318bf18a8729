import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import {
    DropletAt,
    handOverBefore,
    HandoverSettings,
    powerOffChanges,
    RunnerFactory,
} from "../../components/lbHandover";
import type { SshTarget } from "../../lib/ssh";
import { named, recorded, registeredHooks, resourceHooks, runProgram, tempBundle } from "../support/mocks";

// lbCount 2: an LB droplet is changed only after the other (lb-1 after lb), and before one is powered off
// or deleted its hooks hand the reserved IP to the other LB when it holds it (ops failover's handOver).
jest.setTimeout(60_000);

const TOKEN = "dop_v1_0123456789abcdefTOKENvalue";
const DROPLET = "digitalocean:index/droplet:Droplet";
const dropletInputs = ["backups", "image", "monitoring", "name", "region", "size", "sshKeys", "tags", "userData"];

let fixture: ReturnType<typeof tempBundle>;
beforeAll(() => (fixture = tempBundle("handover-")));
afterAll(() => fixture.remove());

describe("lbCount 2", () => {
    beforeAll(() => runProgram({ bundle: fixture.bundle, lbCount: "2", failoverApiToken: TOKEN }));

    test("both LB droplets carry the named handover hooks; lb-1's droplet waits for lb's", () => {
        for (const lb of ["lb", "lb-1"])
            expect(named(`${lb}-droplet`).hooks).toEqual({
                beforeUpdate: [`${lb}-droplet-handover-update`],
                beforeDelete: [`${lb}-droplet-handover-delete`],
            });
        expect(named("lb-1-droplet").dependsOn).toEqual(["lb-droplet"]);
        expect(named("lb-droplet").dependsOn).toEqual([]);
        // Options only: the droplets' inputs are what they were (no diff, so no replacement).
        for (const lb of ["lb-droplet", "lb-1-droplet"])
            expect(Object.keys(named(lb).inputs).sort()).toEqual([...dropletInputs, "vpcUuid"].sort());
        expect([...registeredHooks].sort()).toEqual([...resourceHooks.keys()].sort());
        // No other resource has hooks.
        expect(recorded.filter((r) => Object.keys(r.hooks).length > 0).map((r) => r.name)).toEqual([
            "lb-droplet",
            "lb-1-droplet",
        ]);
    });

    test("a tags-only update hands nothing over (the hook returns without reaching a host)", async () => {
        const hook = resourceHooks.get("lb-droplet-handover-update")!;
        const old = named("lb-droplet").inputs as Record<string, unknown>;
        await expect(
            hook.callback({
                urn: "urn",
                id: "1001",
                name: "lb-droplet",
                type: DROPLET,
                oldInputs: old,
                newInputs: { ...old, tags: ["other"] },
                oldOutputs: { ipv4Address: "192.0.2.1" },
            }),
        ).resolves.toBeUndefined();
    });
});

test("lbCount 1: no hooks bound, and the LB droplet waits for nothing new", async () => {
    await runProgram({ bundle: fixture.bundle });
    expect(recorded.filter((r) => Object.keys(r.hooks).length > 0)).toEqual([]);
    expect(named("lb-droplet").dependsOn).toEqual([]);
    // Only lb-1's delete hook, for a 2 -> 1 change (the engine looks it up by the name in lb-1's state).
    expect(registeredHooks).toEqual(["lb-1-droplet-handover-delete"]);
});

test("which droplet changes power it off (and so need a handover)", async () => {
    const base = { size: "s-1vcpu-1gb", image: "debian-12-x64", tags: ["a"], name: "x-lb", __defaults: [] };
    expect(await powerOffChanges(base, { ...base, size: "s-2vcpu-2gb" })).toEqual(["size"]);
    expect(await powerOffChanges(base, { ...base, tags: ["a", "b"], name: "y-lb" })).toEqual([]);
    expect(await powerOffChanges(base, { ...base, image: "debian-13-x64", size: "s-2vcpu-2gb" })).toEqual([
        "image",
        "size",
    ]);
    expect(await powerOffChanges(base, { ...base, __defaults: ["backups"] })).toEqual([]);
    expect(await powerOffChanges(base, base)).toEqual([]);
    // Secret inputs reach a hook as secret Outputs (two objects): compared by value.
    const withData = (d: string) => ({ ...base, userData: pulumi.secret(d) });
    expect(await powerOffChanges(withData("a"), { ...withData("a"), tags: [] })).toEqual([]);
    expect(await powerOffChanges(withData("a"), withData("b"))).toEqual(["userData"]);
});

describe("handOverBefore (a fake runner plays both LBs as keepalived would)", () => {
    const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n-----END OPENSSH PRIVATE KEY-----\n";
    let roles: Record<string, string>;
    let calls: string[];
    let seen: { target?: SshTarget; identity?: string; mode?: number; dirMode?: number; key?: string };
    let nginx: Record<string, boolean>;
    /** Changes the fake makes on the n-th role question (e.g. the standby coming back). */
    let onAsk: (n: number) => void;

    const fake: RunnerFactory = (target, o) => {
        seen = {
            target,
            identity: o.identity,
            mode: fs.statSync(o.identity).mode & 0o777,
            dirMode: fs.statSync(path.dirname(o.identity)).mode & 0o777,
            key: fs.readFileSync(o.identity, "utf8"),
        };
        let asks = 0;
        return {
            run: async (host, command) => {
                const other = host === "lb" ? "lb-1" : "lb";
                const step = /lb-role\.sh (step-down|step-up)$/.exec(command)?.[1];
                calls.push(`${host} ${step ?? "show"}`);
                if (step === "step-down") [roles[host], roles[other]] = ["fault", "active"];
                else if (step === "step-up") roles[host] = "standby";
                else onAsk(++asks);
                if (roles[host] === "unreachable") return { code: 255, stdout: "", stderr: "no route" };
                const out = `role=${roles[host]}\nnginx=${nginx[host] ? "up" : "down"}\n`;
                return { code: 0, stdout: step ? "" : out, stderr: "" };
            },
        };
    };
    const settings = (o: Partial<HandoverSettings> = {}): HandoverSettings => ({
        stack: "prod",
        self: { name: "lb", droplet: "mdo-lb", hostKey: () => Promise.resolve("ssh-ed25519 AAAAlb") },
        other: {
            name: "lb-1",
            droplet: "mdo-lb-1",
            hostKey: () => Promise.resolve("ssh-ed25519 AAAAlb1"),
            at: async () => ({ id: "502", ip: "203.0.113.12" }),
        },
        deployPrivateKey: Promise.resolve(KEY),
        standbyWaitMs: 400,
        timeoutMs: 2000,
        pollMs: 20,
        ...o,
    });
    const self: DropletAt = { id: "501", ip: "203.0.113.11" };
    let printed: string[];
    const run = (s = settings()) => handOverBefore(s, self, "the change of size", (l) => printed.push(l), fake);

    beforeEach(() => {
        roles = { lb: "active", "lb-1": "standby" };
        nginx = { lb: true, "lb-1": true };
        calls = [];
        printed = [];
        onAsk = () => undefined;
    });

    test("the holder steps down, the other takes over, the holder is let back as standby", async () => {
        await run();
        expect(calls.slice(0, 2).sort()).toEqual(["lb show", "lb-1 show"]);
        expect(calls.slice(2)).toEqual(["lb step-down", "lb-1 show", "lb step-up", "lb show"]);
        expect(roles).toEqual({ lb: "standby", "lb-1": "active" });
        // Each LB at its droplet's own address with its pinned key, as the deploy user.
        expect(seen.target!.lbs!.map((l) => [l.name, l.publicIp, l.dropletId, l.hostKey])).toEqual([
            ["lb", "203.0.113.11", "501", "ssh-ed25519 AAAAlb"],
            ["lb-1", "203.0.113.12", "502", "ssh-ed25519 AAAAlb1"],
        ]);
        expect(seen.target!.user).toBe("deploy");
        // The key: a 0600 file in a 0700 dir, gone afterwards; in no message.
        expect([seen.mode, seen.dirMode, seen.key]).toEqual([0o600, 0o700, KEY]);
        expect(fs.existsSync(path.dirname(seen.identity!))).toBe(false);
        expect(printed.join("\n")).not.toContain("secret");
        expect(printed[0]).toBe("before the change of size: making sure lb-1 holds the address");
    });

    test("not the holder (standby, or unreachable): nothing is changed", async () => {
        roles = { lb: "standby", "lb-1": "active" };
        await run();
        roles = { lb: "unreachable", "lb-1": "active" };
        await run();
        expect(calls.filter((c) => c.includes("step-"))).toEqual([]);
        expect(printed.filter((l) => l.includes("nothing to hand over"))).toHaveLength(2);
    });

    test("no other droplet yet (lbCount 1 -> 2 and a resize in one up): a lone LB is left alone", async () => {
        const alone = settings();
        alone.other.at = () => Promise.reject(new Error("no droplet found with name mdo-lb-1"));
        roles = { lb: "none", "lb-1": "unreachable" };
        await handOverBefore(alone, self, "the change of size", (l) => printed.push(l), fake);
        expect(calls).toEqual(["lb show"]);
        expect(printed[0]).toBe("lb-1 (mdo-lb-1) not found: no droplet found with name mdo-lb-1");
        expect(seen.target!.lbs!.map((l) => l.name)).toEqual(["lb"]);
        // Holding it (keepalived configured) with no other LB: the bounded wait, then the error.
        roles.lb = "active";
        await expect(handOverBefore(alone, self, "x", () => undefined, fake)).rejects.toThrow(
            "lb-1 (mdo-lb-1) is unreachable, nginx down",
        );
    });

    test("the other LB not a ready standby: a bounded wait, then an error naming it, nothing changed", async () => {
        roles["lb-1"] = "fault";
        const started = Date.now();
        await expect(run()).rejects.toThrow(
            "the standby is not ready to take over after 0.4s, so nothing was changed: lb-1 (mdo-lb-1) is fault, nginx up",
        );
        expect(Date.now() - started).toBeGreaterThanOrEqual(400);
        expect(calls.filter((c) => c === "lb-1 show").length).toBeGreaterThan(2);
        expect(calls.filter((c) => c.includes("step-"))).toEqual([]);
        expect(fs.existsSync(path.dirname(seen.identity!))).toBe(false);
    });

    test("the other LB just back from its own change: the handover waits for it, then goes ahead", async () => {
        roles["lb-1"] = "none";
        nginx["lb-1"] = false;
        onAsk = (n) => {
            if (n === 5) [roles["lb-1"], nginx["lb-1"]] = ["standby", true];
        };
        await run(settings({ standbyWaitMs: 5000 }));
        expect(printed[1]).toBe("lb-1 (mdo-lb-1) is none, nginx down: waiting until it is a ready standby");
        expect(roles).toEqual({ lb: "standby", "lb-1": "active" });
    });
});
