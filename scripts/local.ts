// `npm run up -- --local [--config FILE] [--port N]`: the program (index.ts → MeteorSite) against the local
// DigitalOcean-shaped topology the e2e runs (test/e2e/engine: booted Debian 12 hosts, the Node.js mirror, the
// mock engine and its state file), left running, with the site forwarded to https://127.0.0.1:PORT (8443).
// A later run rolls it as `pulumi up` rolls a real stack: only the Commands whose inputs changed run.
// `npm run up -- --local --destroy` stops and removes all of it. scripts/up.sh checks root and Debian 12 first.
//   config: --config FILE, else Pulumi.local.yaml, else Pulumi.yaml's defaults (scripts/local-config.ts)
//   state:  METEOR_DO_LOCAL_DIR (default /var/lib/meteor-do-local); namespaces and cgroups are named after
//           METEOR_DO_LOCAL_PREFIX (default mdolocal), so the e2e's topology and this one never touch each other.
const usage = "usage: npm run up -- --local [--config FILE] [--port N] | npm run up -- --local --destroy";

interface Args {
    destroy: boolean;
    configFile?: string;
    port: number;
}

function parse(argv: string[]): Args {
    const args: Args = { destroy: false, port: 8443 };
    for (let i = 0; i < argv.length; i++) {
        const [flag, inline] = argv[i].split(/=(.*)/s);
        const value = () => {
            const v = inline ?? argv[++i];
            if (v === undefined) throw new Error(`${flag} needs a value (${usage})`);
            return v;
        };
        if (flag === "--local") continue;
        else if (flag === "--destroy") args.destroy = true;
        else if (flag === "--config") args.configFile = value();
        else if (flag === "--port") {
            const v = value();
            args.port = Number(v);
            if (!/^\d+$/.test(v) || args.port < 1024 || args.port > 65535)
                throw new Error(`--port must be an integer from 1024 to 65535, not ${JSON.stringify(v)}`);
        } else throw new Error(`unknown argument ${argv[i]} (${usage})`);
    }
    if (args.destroy && (args.configFile || argv.some((a) => a.startsWith("--port"))))
        throw new Error(`--destroy takes no other option (${usage})`);
    return args;
}

async function main(): Promise<number> {
    const args = parse(process.argv.slice(2));
    const prefix = process.env.METEOR_DO_LOCAL_PREFIX ?? "mdolocal";
    if (!/^[a-z][a-z0-9]{1,11}$/.test(prefix))
        throw new Error(`METEOR_DO_LOCAL_PREFIX must be 2 to 12 lowercase letters and digits, not ${prefix}`);
    // Read by the engine's modules when they load: set before importing them.
    process.env.METEOR_DO_E2E_DATA = process.env.METEOR_DO_LOCAL_DIR ?? "/var/lib/meteor-do-local";
    process.env.METEOR_DO_E2E_PREFIX = prefix;
    const local = await import("./local-stack");
    if (args.destroy) {
        await local.destroy();
        return 0;
    }
    return (await local.up(args)) ? 0 : 1;
}

main().then(
    (code) => process.exit(code),
    (e: unknown) => {
        process.stderr.write(`up --local: ${e instanceof Error ? e.message : String(e)}\n`);
        process.exit(2);
    },
);
