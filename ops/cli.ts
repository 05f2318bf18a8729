// `npm run ops -- <command> --stack <name>`: day-2 commands against a stack's hosts over SSH, as the
// operator user (operatorSshKeys), the load balancer as the bastion.
import { spawnSync } from "child_process";
import { parseArgs } from "util";
import { exec } from "./exec";
import { failover } from "./failover";
import { logs } from "./logs";
import { rollback } from "./rollback";
import { Runner } from "./runner";
import { status } from "./status";
import { findHost, OpsTarget, parseOutputs, readOutputsFile, readStackOutputs } from "./target";

export const help = `Usage: npm run ops -- <command> --stack <name> [options]

Commands (examples for the stack "staging"):
  status                           one table: each app host's LB state, release, Node.js version and
                                   uptime; the LB's config generation and certificate expiry
      npm run ops -- status --stack staging
  logs [--host NAME] [--follow] [--lines N] [--since T]
                                   the app's journal of every host (or one), host name first, in time order
      npm run ops -- logs --stack staging --lines 50 --since -1h
      npm run ops -- logs --stack staging --host app-2 --follow
  ssh <host|lb|lb-1>               an interactive shell on an app host (through the LB) or on an LB
      npm run ops -- ssh app-1 --stack staging
  exec [--host NAME] -- <command>  runs the command on every app host in turn (or one); exits non-zero
                                   if it failed on any host
      npm run ops -- exec --stack staging -- uname -r
  rollback [--to SHA]              every app host back to its previous release (or the named one) that it
                                   still keeps, one host at a time with the deploy's drain/health/undrain
                                   gate, uploading nothing; then records it in the stack's config
      npm run ops -- rollback --stack staging
      npm run ops -- rollback --stack staging --to 3f1c9a0b2e4d
  failover                         moves the reserved IP to the standby LB (lbCount 2): steps the active one
                                   down, waits until the standby holds the address, lets the old one back
                                   as standby; refuses with one LB or when the standby is not ready
      npm run ops -- failover --stack prod
  help                             this text

Options:
  --stack NAME        the Pulumi stack (its outputs are read with \`pulumi stack output\`)
  --outputs FILE      read the outputs from FILE (the JSON of \`pulumi stack output --json\`) instead
  --identity FILE     the private key to log in with (default: ssh-agent and ssh's default keys)
  --state-dir DIR     where the per-stack ssh_config and known_hosts live
                      (default: $METEOR_DO_OPS_DIR or ~/.config/meteor-do/ops)
  --host NAME         one app host, by the program's name (app-2) or the droplet's name
Log in as the operator user with a key listed in the stack's operatorSshKeys config.`;

const commands = ["status", "logs", "ssh", "exec", "rollback", "failover", "help"] as const;

export interface Io {
    out: (s: string) => void;
    err: (s: string) => void;
}

const options = {
    stack: { type: "string" },
    outputs: { type: "string" },
    identity: { type: "string" },
    "state-dir": { type: "string" },
    host: { type: "string" },
    follow: { type: "boolean", short: "f" },
    lines: { type: "string", short: "n" },
    since: { type: "string" },
    to: { type: "string" },
    help: { type: "boolean", short: "h" },
} as const;

/** `--since -1h` as `--since=-1h`: a value may start with a dash (journalctl's relative times do). */
function joinValues(args: string[]): string[] {
    const out: string[] = [];
    for (let i = 0; i < args.length; i++) {
        const name = args[i].replace(/^--/, "") as keyof typeof options;
        if (args[i].startsWith("--") && options[name]?.type === "string" && i + 1 < args.length)
            out.push(`${args[i]}=${args[++i]}`);
        else out.push(args[i]);
    }
    return out;
}

export async function main(argv: string[], io: Io): Promise<number> {
    const dashes = argv.indexOf("--");
    const words = dashes >= 0 ? argv.slice(dashes + 1) : [];
    const { values, positionals } = parseArgs({
        args: joinValues(dashes >= 0 ? argv.slice(0, dashes) : argv),
        allowPositionals: true,
        options,
    });
    const [command, ...rest] = positionals;
    if (values.help || command === "help" || command === undefined) {
        io.out(help);
        return command === undefined && !values.help ? 2 : 0;
    }
    if (!(commands as readonly string[]).includes(command))
        throw new Error(`unknown command ${JSON.stringify(command)}; one of ${commands.join(", ")} (see --help)`);
    const allowed: Record<string, number> = { ssh: 1 };
    if (rest.length > (allowed[command] ?? 0))
        throw new Error(
            `${command}: unexpected ${JSON.stringify(rest.join(" "))}${command === "exec" ? " (put the command after --)" : ""}`,
        );
    if (words.length > 0 && command !== "exec") throw new Error(`${command} takes nothing after --`);

    const stack = values.stack;
    if (!stack) throw new Error("--stack is required (the Pulumi stack, e.g. --stack staging)");
    const target: OpsTarget = parseOutputs(
        stack,
        values.outputs ? readOutputsFile(values.outputs) : readStackOutputs(stack),
    );
    const runner = new Runner(target, { stateDir: values["state-dir"], identity: values.identity });
    const hosts = values.host ? [findHost(target, values.host)] : target.hosts;

    switch (command) {
        case "status":
            return status(runner, io.out);
        case "logs": {
            const lines = values.lines === undefined ? undefined : Number(values.lines);
            if (lines !== undefined && !(Number.isInteger(lines) && lines >= 0))
                throw new Error(`--lines must be a whole number, got ${JSON.stringify(values.lines)}`);
            return logs(runner, hosts, { lines, since: values.since, follow: values.follow }, io.out, io.err);
        }
        case "ssh": {
            const name = rest[0];
            if (!name) throw new Error("ssh needs a host: lb or an app host (app-1, ...)");
            // Every LB has a block of its own (name and droplet name) in the stack's ssh_config.
            if (name === "lb" || [target.lb, ...(target.lbs ?? [])].some((l) => name === l.name || name === l.droplet))
                return runner.interactive(name);
            return runner.interactive(findHost(target, name).name);
        }
        case "exec":
            return exec(runner, hosts, words, io.out);
        case "failover":
            return failover(runner, io.out);
        case "rollback":
            return rollback(runner, values.to, io.out, async (record) => {
                const shown = record.join(" ");
                if (values.outputs) {
                    io.out(`record the rollback in the stack: ${shown}`);
                    return true;
                }
                const r = spawnSync(record[0], record.slice(1), { stdio: "inherit" });
                if (r.status !== 0) {
                    io.err(`the hosts are rolled back, but recording it failed: run ${shown}`);
                    return false;
                }
                io.out(`recorded in the stack's config: ${shown}`);
                io.out(
                    `commit Pulumi.${stack}.yaml; the next \`npm run up\` confirms the hosts without uploading or restarting`,
                );
                return true;
            });
    }
    return 2;
}
