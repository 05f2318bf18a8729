import { inStack, recorded, timing, useMocks } from "../test/support/mocks";

// One evaluation of index.ts under mocks, timed from config to the last registered resource.
// Used by bench/program.ts in a fresh process per run.
async function main() {
    const [appCount, bundle] = process.argv.slice(2);
    await useMocks({ appCount, bundle, adminCidrs: '["203.0.113.0/24"]' });
    const start = process.hrtime.bigint();
    const program = (await import("../index")).default;
    await inStack(program);
    const ms = Number(timing.lastRegistration - start) / 1e6;
    console.log(JSON.stringify({ ms, resources: recorded.length }));
}

main().catch((e) => {
    console.error(e);
    process.exit(1);
});
