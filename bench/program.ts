import { execFileSync } from "child_process";
import * as path from "path";
import { tempBundle } from "../test/support/mocks";

/**
 * `npm run bench:program`: how long the program takes to evaluate under mocks for 1, 10 and 50 app
 * droplets (what `pulumi preview` spends in the program itself, before any provider call). Each run is
 * a fresh process, so module loading counts the same every time; the median of 3 runs is reported.
 * Last line: one JSON object.
 */

const counts = [1, 10, 50];
const runs = 3;

function child(appCount: number, bundle: string): { ms: number; resources: number } {
    const out = execFileSync(
        process.execPath,
        [
            require.resolve("ts-node/dist/bin"),
            "--transpile-only",
            path.join(__dirname, "programRun.ts"),
            String(appCount),
            bundle,
        ],
        { encoding: "utf8", cwd: path.join(__dirname, ".."), timeout: 120000 },
    );
    return JSON.parse(out.trim().split("\n").pop()!);
}

function main() {
    // A real tar.gz with a star.json: the program reads the bundle's Node.js version (nodeVersion: auto).
    const { bundle, remove } = tempBundle("bench-program-");
    const result: Record<string, { medianMs: number; resources: number; msPerDroplet: number }> = {};
    try {
        for (const n of counts) {
            const samples = Array.from({ length: runs }, () => child(n, bundle));
            const ms = samples.map((s) => s.ms).sort((a, b) => a - b)[Math.floor(runs / 2)];
            result[`apps${n}`] = {
                medianMs: Math.round(ms),
                resources: samples[0].resources,
                msPerDroplet: Math.round((ms / n) * 10) / 10,
            };
            console.log(
                `appCount ${String(n).padStart(2)}: ${Math.round(ms)} ms median of ${runs}, ${samples[0].resources} resources`,
            );
        }
    } finally {
        remove();
    }
    console.log(JSON.stringify({ bench: "program", runs, ...result }));
}

main();
