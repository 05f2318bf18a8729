// Resize one host at a time, scale down by name, a removed host retired before its droplet goes
// (components/hostLifecycle.ts, wired by components/appServers.ts), under mocks of the whole program.
import { loadConfig } from "../../components/config";
import { restartTimeoutSeconds } from "../../lib/layout";
import { hostNumbers, pauseCommand, resumeCommand, retireCommand } from "../../components/hostLifecycle";
import { named, ofType, recorded, runProgram, tempBundle, waitsFor } from "../support/mocks";

jest.setTimeout(60_000);

let fixture: ReturnType<typeof tempBundle>;
beforeAll(() => (fixture = tempBundle("lifecycle-")));
afterAll(() => fixture.remove());

const run = (config: Record<string, string>) => runProgram({ bundle: fixture.bundle, ...config });
const DROPLET = "digitalocean:index/droplet:Droplet";
const tool = (s: string) => `sudo /usr/local/lib/meteor-do/${s}`;

/**
 * Pulumi's schedule at its most parallel: a step starts as soon as everything it depends on has ended.
 * Droplets take 10 (power off, resize, power on), everything else 1. Returns [start, end] per name.
 */
function schedule(): Map<string, [number, number]> {
    const times = new Map<string, [number, number]>();
    const visit = (name: string): number => {
        const known = times.get(name);
        if (known) return known[1];
        const r = named(name);
        const start = Math.max(0, ...r.dependsOn.map(visit));
        const end = start + (r.type === DROPLET ? 10 : 1);
        times.set(name, [start, end]);
        return end;
    };
    for (const r of recorded) visit(r.name);
    return times;
}

describe("resize: one app droplet off at a time (appCount 4)", () => {
    beforeAll(() => run({ appCount: "4", appSize: "s-2vcpu-4gb", stopGraceSeconds: "15" }));
    const hosts = ["app-1", "app-2", "app-3", "app-4"];

    test("each host: pause -> droplet -> resume, and the next host's pause after that resume", () => {
        for (const [i, h] of hosts.entries()) {
            expect(named(h).dependsOn).toContain(`${h}-pause`);
            expect(named(`${h}-resume`).dependsOn).toEqual(expect.arrayContaining([h, "lb-host-tools"]));
            expect(named(`${h}-pause`).dependsOn).toEqual([
                "lb-host-tools",
                ...(i > 0 ? [`${hosts[i - 1]}-resume`] : []),
            ]);
        }
        // Every droplet waits for the one before it, through its resume: none can be updated alongside it.
        for (const [i, h] of hosts.entries())
            for (const earlier of hosts.slice(0, i)) expect(waitsFor(h).has(`${earlier}-resume`)).toBe(true);
    });

    test("at the engine's most parallel, droplet updates never overlap, each inside its pause and resume", () => {
        const t = schedule();
        const spans = hosts.map((h) => t.get(h)!).sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
        for (const h of hosts) {
            expect(t.get(`${h}-pause`)![1]).toBeLessThanOrEqual(t.get(h)![0]);
            expect(t.get(`${h}-resume`)![0]).toBeGreaterThanOrEqual(t.get(h)![1]);
        }
    });

    test("pause and resume run on the LB, only on update, naming the droplet and its size", () => {
        const o = { dropletName: "meteor-do-staging-app-2", appPort: 3000, graceSeconds: 15, timeoutSeconds: 300 };
        const pause = named("app-2-pause").inputs;
        expect(pause.create).toBeUndefined();
        expect(pause.connection.host).toBe(named("lb-host-cloud-init").inputs.connection.host);
        expect(pause.update).toBe(pauseCommand({ ...o, size: "s-2vcpu-4gb" }));
        expect(pause.update).toBe(
            tool(
                "lb-peer.sh pause --host meteor-do-staging-app-2 --port 3000 --grace 15 --timeout 300 --why size=s-2vcpu-4gb",
            ),
        );
        expect(named("app-2-resume").inputs.create).toBeUndefined();
        expect(named("app-2-resume").inputs.update).toBe(resumeCommand({ ...o, size: "s-2vcpu-4gb" }));
        expect(named(`app-2`).inputs.name).toBe("meteor-do-staging-app-2");
    });

    test("retire: nothing on create; its delete drains and stops the app on the host, after the tools", () => {
        const r = named("app-3-retire");
        expect(r.inputs.create).toBeUndefined();
        expect(r.inputs.update).toBeUndefined();
        const ip = named("app-3-host-cloud-init").inputs.connection.host;
        expect(r.inputs.connection.host).toBe(ip);
        // The LB address a cutover drains through.
        const lbIp = /--lb (\S+)/.exec(String(named("release-app-3-cutover").inputs.create))![1];
        expect(lbIp).toMatch(/^10\.116\.0\.\d+$/);
        expect(r.inputs.delete).toBe(
            retireCommand({
                peer: `${ip}:3000`,
                lbPrivateIp: lbIp,
                stopTimeoutSeconds: restartTimeoutSeconds(15),
                graceSeconds: 15,
            }),
        );
        expect(r.inputs.delete).toBe(
            tool(`retire.sh --peer ${ip}:3000 --lb ${lbIp} --stop-timeout ${restartTimeoutSeconds(15)} --grace 15`),
        );
        expect(r.dependsOn).toEqual(["app-3-host-tools"]);
    });
});

describe("removeHosts: a named host goes, the others keep their numbers", () => {
    test("hostNumbers skips removed names and fills up from the top", () => {
        expect(hostNumbers(3, [])).toEqual([1, 2, 3]);
        expect(hostNumbers(3, ["app-2"])).toEqual([1, 3, 4]);
        expect(hostNumbers(2, ["app-1", "app-3"])).toEqual([2, 4]);
        expect(hostNumbers(3, ["app-9"])).toEqual([1, 2, 3]);
    });

    test("appCount 3 with removeHosts [app-2]: droplets app-1, app-3, app-4, under their own names", async () => {
        await run({ appCount: "3", removeHosts: JSON.stringify(["app-2"]) });
        const apps = ofType(DROPLET).filter((d) => d.name !== "lb-droplet");
        expect(apps.map((d) => [d.name, d.inputs.name])).toEqual([
            ["app-1", "meteor-do-staging-app-1"],
            ["app-3", "meteor-do-staging-app-3"],
            ["app-4", "meteor-do-staging-app-4"],
        ]);
        expect(named("app-3-pause").dependsOn).toContain("app-1-resume");
    });

    test.each([
        [["app-0"], /removeHosts has "app-0": names must be app hosts/],
        [["lb"], /removeHosts has "lb"/],
        [["app-2", "app-2"], /removeHosts lists "app-2" twice/],
    ])("removeHosts %j is refused, naming the key", (value, message) => {
        const values: Record<string, string> = { bundle: fixture.bundle, removeHosts: JSON.stringify(value) };
        expect(() => loadConfig((k) => values[k], "staging")).toThrow(message);
    });
});
