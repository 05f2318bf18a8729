// Stacks deployed by earlier versions of the program must see no change: every resource their state holds
// is claimed by exactly one resource of the program now, by its URN or by an alias. fixtures/deployed-urns.json
// lists what the program registered before MeteorSite held everything and before the certificate install and the
// certbot run had components of their own (commit d7125ee), for the two configs below.
//
// URNs and aliases are resolved here as the engine resolves them: the full parent type chain (the mocks' own
// URNs keep only the last parent type), the root stack adds no type, and every alias of a parent carries over
// to its children, renamed when the child's name starts with the parent's.
import * as pulumi from "@pulumi/pulumi";
import deployed from "./fixtures/deployed-urns.json";
import { freshProgram, inStack, promiseOf, tempBundle, useMocks } from "../support/mocks";

jest.setTimeout(60_000);

const PREFIX = "urn:pulumi:staging::meteor-do::";
const configs: Record<keyof typeof deployed, Record<string, string>> = {
    default: { appCount: "2" },
    "every service": {
        appCount: "2",
        domain: "app.example.com",
        tlsMode: "letsencrypt",
        letsencryptEmail: "ops@example.com",
        manageDns: "true",
        database: "managed",
        alertEmails: '["ops@example.com"]',
    },
};
/** Resources that are new since the fixture: nothing in a deployed state is theirs. */
const site = "meteor-do:index:MeteorSite::meteor-do";
const operatorAccess = [
    "command:remote:Command::app-1-operators",
    "command:remote:Command::app-2-operators",
    "command:remote:Command::lb-operators",
    "meteor-do:ops:OperatorAccess::ops",
];
/** A resize's pause and resume, a removed host's retire (components/hostLifecycle.ts). */
const lifecycle = ["app-1", "app-2"].flatMap((h) =>
    ["pause", "resume", "retire"].map((c) => `command:remote:Command::${h}-${c}`),
);
/** Least privilege: the app hosts' deploy key, every droplet's host key, the LB's tunnel rule to the app hosts. */
const keys = [
    "meteor-do:ssh:DeployKey::deploy-app",
    "tls:index/privateKey:PrivateKey::deploy-app-key",
    "digitalocean:index/sshKey:SshKey::deploy-app-sshkey",
    ...["lb", "app-1", "app-2"].map((h) => `tls:index/privateKey:PrivateKey::${h}-host-key`),
    "command:remote:Command::app-bastion",
];
const added: Record<keyof typeof deployed, string[]> = {
    default: [...operatorAccess, ...lifecycle, ...keys, site].sort(),
    "every service": [
        ...operatorAccess,
        ...lifecycle,
        ...keys,
        // The app's own database user (database managed).
        "digitalocean:index/databaseUser:DatabaseUser::db-user",
        site,
        "meteor-do:tls:LetsEncryptIssuance::lb-certbot",
        // Uptime checks and alerts (alertEmails).
        "digitalocean:index/uptimeAlert:UptimeAlert::alerts-lb-down",
        "digitalocean:index/uptimeAlert:UptimeAlert::alerts-site-certificate",
        "digitalocean:index/uptimeAlert:UptimeAlert::alerts-site-down",
        "digitalocean:index/uptimeCheck:UptimeCheck::alerts-lb-ping",
        "digitalocean:index/uptimeCheck:UptimeCheck::alerts-site",
    ].sort(),
};

interface Node {
    type: string;
    name: string;
    parent?: pulumi.Resource;
    aliases: (string | pulumi.Alias)[];
}

/** Runs index.ts under the mocks and returns every resource it made, with its parent and aliases as given. */
async function register(config: Record<string, string>): Promise<Map<pulumi.Resource, Node>> {
    const fixture = tempBundle("urns-");
    await useMocks({ bundle: fixture.bundle, ...config });
    const program = freshProgram();
    const nodes = new Map<pulumi.Resource, Node>();
    const pending: Promise<void>[] = [];
    await inStack(async () => {
        pulumi.runtime.registerStackTransformation((args) => {
            const node: Node = { type: args.type, name: args.name, parent: args.opts.parent, aliases: [] };
            for (const alias of (args.opts.aliases ?? []) as pulumi.Input<string | pulumi.Alias>[]) {
                if (pulumi.Output.isInstance(alias))
                    pending.push(promiseOf(alias as pulumi.Output<string>).then((a) => void node.aliases.push(a)));
                else node.aliases.push(alias as string | pulumi.Alias);
            }
            nodes.set(args.resource, node);
            return undefined;
        });
        return program();
    });
    await Promise.all(pending);
    fixture.remove();
    return nodes;
}

const typeChain = (urn: string) => urn.split("::")[2];
const nameOf = (urn: string) => urn.split("::")[3];
const childUrn = (parentUrn: string | undefined, type: string, name: string) =>
    `${PREFIX}${parentUrn ? `${typeChain(parentUrn)}$` : ""}${type}::${name}`;

/** Every URN a resource answers to: its own, its aliases, and those its ancestors' aliases give it. */
function claims(nodes: Map<pulumi.Resource, Node>): Map<Node, string[]> {
    const urn = new Map<Node, string>();
    const aliases = new Map<Node, string[]>();
    const parentOf = (r?: pulumi.Resource) => (r ? nodes.get(r) : undefined); // the root stack is no node
    const urnOf = (n: Node): string => {
        if (!urn.has(n)) {
            const p = parentOf(n.parent);
            urn.set(n, childUrn(p && urnOf(p), n.type, n.name));
        }
        return urn.get(n)!;
    };
    // An alias's parent: no `parent` key, this resource's parent; pulumi.rootStackResource (undefined), none;
    // a URN as is; a resource of the program, its URN.
    const collapse = (n: Node, a: string | pulumi.Alias): string => {
        if (typeof a === "string") return a;
        const parent = !("parent" in a)
            ? parentOf(n.parent)
            : typeof a.parent === "string"
              ? a.parent
              : parentOf(a.parent as pulumi.Resource | undefined);
        const parentUrn = typeof parent === "string" ? parent : parent && urnOf(parent);
        return childUrn(parentUrn, (a.type as string) ?? n.type, (a.name as string) ?? n.name);
    };
    const aliasesOf = (n: Node): string[] => {
        if (!aliases.has(n)) {
            const own = n.aliases.map((a) => collapse(n, a));
            const p = parentOf(n.parent);
            const inherited = (p ? aliasesOf(p) : []).flatMap((pa) =>
                [
                    { type: n.type, name: n.name },
                    ...own.map((o) => ({ type: typeChain(o).split("$").pop()!, name: nameOf(o) })),
                ].map((c) =>
                    childUrn(
                        pa,
                        c.type,
                        c.name.startsWith(p!.name) ? nameOf(pa) + c.name.slice(p!.name.length) : c.name,
                    ),
                ),
            );
            aliases.set(n, [...own, ...inherited]);
        }
        return aliases.get(n)!;
    };
    return new Map([...nodes.values()].map((n) => [n, [urnOf(n), ...aliasesOf(n)]]));
}

describe.each(Object.keys(configs) as (keyof typeof deployed)[])("a stack deployed before (%s)", (label) => {
    let claimed: Map<Node, string[]>;
    beforeAll(async () => {
        claimed = claims(await register(configs[label]));
    });

    test("every resource in its state is claimed by exactly one resource, by URN or alias", () => {
        for (const old of deployed[label]) {
            const by = [...claimed].filter(([, urns]) => urns.includes(old)).map(([n]) => `${n.type}::${n.name}`);
            expect([old, by.length]).toEqual([old, 1]);
        }
    });

    test("every resource claims at most one of them; only the new ones claim none", () => {
        const old = new Set(deployed[label]);
        const none: string[] = [];
        for (const [n, urns] of claimed) {
            const mine = urns.filter((u) => old.has(u));
            expect([n.name, mine.length <= 1]).toEqual([n.name, true]);
            if (mine.length === 0) none.push(`${n.type}::${n.name}`);
        }
        expect(none.sort()).toEqual(added[label]);
    });
});
