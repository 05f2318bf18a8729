// npm run bench:failover [-- --kills 5 --keep]     (as root, under the e2e lock; not part of npm test)
//
// The standby LB's takeover (issue 14) on this machine's DigitalOcean-shaped topology, the e2e's engine
// with a prefix and data dir of its own (so it never touches an e2e's or a local stack's): one `up` of the
// unmodified program with lbCount 2 and one app host, then `kills` times: power off the LB that holds the
// reserved IP (DigitalOcean's power_off), time until the site answers through that IP again, power it on,
// wait until keepalived runs on both. Target: the median and the max <= 5 s in emulation.
// The last line of output is one JSON object. --keep leaves the topology up (run again without it to remove it).
process.env.METEOR_DO_E2E_DATA ??= "/var/lib/meteor-do-bench";
process.env.METEOR_DO_E2E_PREFIX ??= "mdobench";

// The engine's modules read the two above when they load.
import("./failoverRun")
    .then((m) => m.main())
    .catch((e: unknown) => {
        process.stderr.write(`bench:failover: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(1);
    });
