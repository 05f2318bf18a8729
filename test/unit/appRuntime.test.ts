import {
    freshProgram,
    inStack,
    mocks,
    named,
    ofType,
    recorded,
    runProgram,
    tempBundle,
    useMocks,
    waitsFor,
} from "../support/mocks";

// The program (index.ts) under mocks: the Node.js version each app host gets with `nodeVersion: auto`
// (the bundle's star.json), and a secret appEnv value kept out of every resource's plain inputs and outputs.
jest.setTimeout(60_000);

const fixtures = {
    node14: tempBundle("runtime-14-", "14.21.4"),
    node22: tempBundle("runtime-22-", "22.13.1"),
    none: tempBundle("runtime-none-", null),
};
afterAll(() => Object.values(fixtures).forEach((f) => f.remove()));

const DROPLET = "digitalocean:index/droplet:Droplet";

describe("nodeVersion auto (the default): the bundle's star.json decides", () => {
    test("a bundle with star.json nodeVersion 14.21.4: every runtime Command installs 14.21.4, and says so", async () => {
        await runProgram({ bundle: fixtures.node14.bundle, appCount: "3" }, true);
        for (const i of [1, 2, 3]) {
            const runtime = named(`app-${i}-runtime`);
            expect(runtime.inputs.create).toMatch(/\/install-node\.sh 14\.21\.4 https:\/\/nodejs\.org\/dist /);
            // What a preview shows per host, next to the droplet id.
            expect(runtime.inputs.triggers).toContain("node=14.21.4");
        }
    });

    test("an explicit nodeVersion wins over the bundle's", async () => {
        await runProgram({ bundle: fixtures.node14.bundle, appCount: "2", nodeVersion: "16.20.2" });
        for (const i of [1, 2]) expect(named(`app-${i}-runtime`).inputs.triggers).toContain("node=16.20.2");
    });

    test("a bundle that moves Node.js rolls the hosts one at a time and replaces no droplet", async () => {
        const snapshot = async (bundle: string) => {
            await runProgram({ bundle, appCount: "3" });
            return Object.fromEntries(recorded.map((r) => [r.name, r]));
        };
        const before = await snapshot(fixtures.node14.bundle);
        const after = await snapshot(fixtures.node22.bundle);
        // Droplets: same inputs (user-data included), so none is replaced.
        const droplets = ofType(DROPLET).map((d) => d.name);
        expect(droplets).toHaveLength(4);
        for (const d of droplets) expect([d, after[d].inputs]).toEqual([d, before[d].inputs]);
        for (const i of [1, 2, 3]) {
            expect(before[`app-${i}-runtime`].inputs.triggers).toContain("node=14.21.4");
            expect(after[`app-${i}-runtime`].inputs.triggers).toContain("node=22.13.1");
            // The release of host i restarts on the new runtime only after host i-1 is back.
            expect(waitsFor(`release-app-${i}-cutover`).has(`app-${i}-runtime`)).toBe(true);
            if (i > 1) expect(waitsFor(`release-app-${i}-cutover`).has(`release-app-${i - 1}-cutover`)).toBe(true);
        }
    });

    test("a bundle that records no version fails the preview, naming nodeVersion, before anything is registered", async () => {
        await useMocks({ bundle: fixtures.none.bundle }, true);
        // Called outside a stack on purpose: the SDK turns a program error inside one into a process exit.
        await expect(freshProgram()()).rejects.toThrow(
            `meteor-do:nodeVersion is "auto", but the bundle ${fixtures.none.bundle} records no Node.js version`,
        );
        expect(recorded).toEqual([]);
    });
});

describe("a secret appEnv value", () => {
    const value = "smtp://postmaster:Sup3r-S3cret-Pw@mail.example.test:587";
    const sig = "4dabf18193072939515e22adb298388d";
    /** Paths under which `needle` appears outside a secret (wire form {sig, value}). */
    function plainOccurrences(v: unknown, needle: string, at = ""): string[] {
        if (typeof v === "string") return v.includes(needle) ? [at] : [];
        if (Array.isArray(v)) return v.flatMap((x, i) => plainOccurrences(x, needle, `${at}[${i}]`));
        if (v && typeof v === "object") {
            if (sig in v) return [];
            return Object.entries(v).flatMap(([k, x]) => plainOccurrences(x, needle, `${at}.${k}`));
        }
        return [];
    }

    test.each([
        ["set with --secret --path appEnv.MAIL_URL", ["appEnv"]],
        ["set without --secret (appEnv is read as a secret all the same)", []],
    ])("%s: never plain in any resource's inputs or outputs, nor the stack outputs", async (_how, secretKeys) => {
        const wire: { name: string; inputs: unknown; state: unknown }[] = [];
        const original = mocks.newResource;
        mocks.newResource = (args) => {
            const result = original(args) as { id: string; state: Record<string, unknown> };
            wire.push({ name: args.name, inputs: args.inputs, state: result.state });
            return result;
        };
        let outputs: Record<string, unknown>;
        try {
            await useMocks(
                {
                    bundle: fixtures.node22.bundle,
                    appCount: "2",
                    appEnv: JSON.stringify({ MAIL_URL: value, MAIL_FROM: "noreply@example.test" }),
                },
                false,
                "staging",
                secretKeys,
            );
            outputs = await inStack(freshProgram());
        } finally {
            mocks.newResource = original;
        }
        // It did reach the hosts: inside the (secret) env file of every stage and cutover.
        const stages = wire.filter((w) => /^release-app-\d-(stage|cutover)$/.test(w.name));
        expect(stages).toHaveLength(4);
        for (const s of stages) expect(JSON.stringify(s.inputs)).toContain("Sup3r-S3cret-Pw");
        const leaks = wire.flatMap((w) => [
            ...plainOccurrences(w.inputs, "Sup3r-S3cret-Pw").map((p) => `${w.name} inputs${p}`),
            ...plainOccurrences(w.state, "Sup3r-S3cret-Pw").map((p) => `${w.name} outputs${p}`),
        ]);
        expect(leaks).toEqual([]);
        expect(JSON.stringify(outputs)).not.toContain("Sup3r-S3cret-Pw");
    });
});
