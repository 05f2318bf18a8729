import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";
import * as remote from "@pulumi/command/remote";
import { Connection, trigger } from "./commands";
import { mongoCaDir, mongoCaPath } from "../lib/layout";
import { StackConfig } from "./config";
import { sha256 } from "./hash";

export { mongoCaPath };

/** What the app's env gets: MONGO_URL and MONGO_OPLOG_URL, secret (either may be unset in external mode). */
export interface MongoUrls {
    mongoUrl?: pulumi.Output<string>;
    mongoOplogUrl?: pulumi.Output<string>;
}

/**
 * Writes the CA certificate on stdin to mongoCaPath (public data, 0644). DigitalOcean's database
 * certificates chain to a per-account CA that no system store trusts, so the driver needs it (tlsCAFile);
 * outside the env dir (0700 root) because the app runs unprivileged. Pure; runs nothing.
 */
export function installMongoCa(): string {
    return `sudo install -d -m 0755 ${mongoCaDir} && sudo install -m 0644 /dev/stdin ${mongoCaPath}`;
}

/**
 * The app's URLs from the cluster's private URI (mongodb+srv://doadmin:...@private-.../admin?...), as
 * `user` when given (the app's own database user) instead of the URI's doadmin: MONGO_URL names the app's
 * database; MONGO_OPLOG_URL names `local`, where a replica set keeps its oplog (local.oplog.rs). Both
 * authenticate against admin (where DigitalOcean keeps its users), over TLS with the cluster's CA. Pure,
 * so tests compare strings.
 */
export function managedMongoUrls(
    privateUri: string,
    databaseName: string,
    user?: { name: string; password: string },
): { mongoUrl: string; mongoOplogUrl: string } {
    const m = /^(mongodb(?:\+srv)?:\/\/)(?:[^@/?]*@)?([^/?@]+)(?:\/[^?]*)?(?:\?(.*))?$/.exec(privateUri);
    if (!m) throw new Error("the cluster's private URI is not a mongodb:// URL"); // never echo it: it holds the password
    const given = /^mongodb(?:\+srv)?:\/\/([^@/?]*@)/.exec(privateUri)?.[1] ?? "";
    const auth = user ? `${encodeURIComponent(user.name)}:${encodeURIComponent(user.password)}@` : given;
    const params = (m[3] ?? "").split("&").filter((p) => p !== "" && !/^(tlsCAFile|authSource|tls|ssl)=/i.test(p));
    const query = [...params, "authSource=admin", "tls=true", `tlsCAFile=${mongoCaPath}`].join("&");
    const base = `${m[1]}${auth}${m[2]}`;
    return {
        mongoUrl: `${base}/${databaseName}?${query}`,
        mongoOplogUrl: `${base}/local?${query}`,
    };
}

/** The database user the app connects as (never doadmin). */
export const appDatabaseUser = "meteor-app";

export interface ManagedDatabaseArgs {
    /** The cluster's name in the account (unique per account): project and stack. */
    clusterName: string;
    region: string;
    /** The VPC the cluster joins; the app reaches it on its private host name. */
    vpcId: pulumi.Input<string>;
    /** The app droplets' tag: the only source the database firewall admits. */
    appTag: pulumi.Input<string>;
    size: string;
    nodeCount: number;
    version: string;
    databaseName: string;
    /** Set MONGO_OPLOG_URL (Meteor tails the oplog) or leave it unset (Meteor polls). */
    oplog: boolean;
    /** Pulumi `protect` on the cluster and the database: deleting or replacing them fails until lifted. */
    protect: boolean;
    /** App hosts that get the CA certificate before the app's env (which names it) reaches them. */
    hosts: { name: string; connection: Connection; ready: pulumi.Resource; hostId: pulumi.Input<string> }[];
}

/**
 * A DigitalOcean managed MongoDB (database: managed): the cluster in the VPC, the app's database, a
 * database firewall admitting only the app droplets' tag, and the CA certificate on every app host.
 * DigitalOcean's MongoDB is a replica set (1 or 3 nodes), so it has an oplog. The app connects as its own
 * user (appDatabaseUser), not doadmin: its password alone is on the hosts, and it can be rotated or revoked
 * without touching the cluster's admin. DigitalOcean gives a new MongoDB user doadmin's rights (its
 * control panel and this provider offer no narrower MongoDB role), which include reading the oplog.
 * The URLs are secret and carry the CA Commands as dependencies, so whatever consumes the env waits for them.
 */
export class ManagedDatabase extends pulumi.ComponentResource {
    readonly cluster: digitalocean.DatabaseCluster;
    readonly database: digitalocean.DatabaseDb;
    readonly firewall: digitalocean.DatabaseFirewall;
    readonly user: digitalocean.DatabaseUser;
    readonly caInstalls: remote.Command[];
    readonly urls: MongoUrls;

    constructor(name: string, args: ManagedDatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:database:ManagedDatabase", name, {}, opts);
        if (args.nodeCount !== 1 && args.nodeCount !== 3)
            throw new Error(`ManagedDatabase: nodeCount must be 1 or 3, got ${args.nodeCount}`);
        const parent = { parent: this };
        this.cluster = new digitalocean.DatabaseCluster(
            `${name}-cluster`,
            {
                name: args.clusterName,
                engine: "mongodb",
                version: args.version,
                size: args.size,
                region: args.region,
                nodeCount: args.nodeCount,
                privateNetworkUuid: args.vpcId,
            },
            {
                ...parent,
                protect: args.protect,
                additionalSecretOutputs: ["password", "privateUri", "uri", "uiPassword", "uiUri"],
            },
        );
        // Renaming databaseName would drop the old database with its data: protected like the cluster.
        this.database = new digitalocean.DatabaseDb(
            `${name}-db`,
            { clusterId: this.cluster.id, name: args.databaseName },
            { ...parent, protect: args.protect },
        );
        this.user = new digitalocean.DatabaseUser(
            `${name}-user`,
            { clusterId: this.cluster.id, name: appDatabaseUser },
            { ...parent, additionalSecretOutputs: ["password"] },
        );
        this.firewall = new digitalocean.DatabaseFirewall(
            `${name}-firewall`,
            {
                clusterId: this.cluster.id,
                rules: [{ type: "tag", value: args.appTag }],
            },
            parent,
        );

        const ca = digitalocean.getDatabaseCaOutput({ clusterId: this.cluster.id }, parent).certificate;
        this.caInstalls = args.hosts.map(
            (h) =>
                new remote.Command(
                    `${name}-ca-${h.name}`,
                    {
                        connection: h.connection,
                        create: installMongoCa(),
                        stdin: ca,
                        triggers: [trigger("droplet", h.hostId), trigger("ca", ca.apply(sha256))],
                        addPreviousOutputInEnv: false,
                    },
                    { ...parent, dependsOn: [h.ready] },
                ),
        );

        // The database and the CA on every host come first; pulumi.all carries them as dependencies.
        const built = pulumi
            .all([
                this.cluster.privateUri,
                this.database.name,
                this.user.name,
                this.user.password,
                ...this.caInstalls.map((c) => c.id),
            ])
            .apply(([uri, db, user, password]) =>
                managedMongoUrls(uri as string, db as string, { name: user as string, password: password as string }),
            );
        const mongoUrl = pulumi.secret(built.apply((u) => u.mongoUrl));
        this.urls = args.oplog
            ? { mongoUrl, mongoOplogUrl: pulumi.secret(built.apply((u) => u.mongoOplogUrl)) }
            : { mongoUrl };
        this.registerOutputs({ clusterId: this.cluster.id, privateHost: this.cluster.privateHost });
    }
}

/**
 * MONGO_URL and MONGO_OPLOG_URL for the app's env, secret, in either mode: the managed cluster's, or
 * the configured mongoUrl/mongoOplogUrl (external).
 */
export function mongoUrls(
    cfg: {
        app: Pick<StackConfig["app"], "mongoUrl" | "mongoOplogUrl">;
        services: Pick<StackConfig["services"], "database">;
    },
    managed?: ManagedDatabase,
): MongoUrls {
    if (cfg.services.database === "managed") {
        if (!managed) throw new Error("mongoUrls: database is managed but no ManagedDatabase was given");
        return managed.urls;
    }
    const secret = (v?: pulumi.Output<string>) => (v === undefined ? undefined : pulumi.secret(v));
    return { mongoUrl: secret(cfg.app.mongoUrl), mongoOplogUrl: secret(cfg.app.mongoOplogUrl) };
}
