// Rolling deploys: stage on every app host at once, then cut over one host after another.
// Per host: upload the bundle (CopyToRemote) -> stage.sh (unpack, deps, env file from stdin) -> cutover.sh
// (drain, switch, restart, wait healthy, undrain, wait LB up; rolls itself back and fails on error).
// Each cutover depends on the previous host's cutover and on the LB config push, so a failed host stops
// the roll with the hosts after it still on the old release.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as remote from "@pulumi/command/remote";
import { appPaths, restartTimeoutSeconds as restartTimeoutFor } from "../lib/layout";
import { assertRule, rules } from "../lib/validate";
import { Connection, runTool, trigger } from "./commands";
import { Bundle, configSchema } from "./config";
import { envFileHash } from "./env";
import { filesHash } from "./hash";
import { hostScripts } from "./hostTools";

/** The host scripts a deploy runs (and the layout they source); their hash is in every stage/cutover trigger. */
export const deployScripts = ["bundle-check.sh", "conn-lib.sh", "cutover.sh", "deploy-lib.sh", "layout.sh", "stage.sh"];

/** sha256 over the deploy scripts (name and content, in name order) among the host tools. */
export function deployScriptsHash(tools: Record<string, string> = hostScripts()): string {
    return filesHash(Object.fromEntries(deployScripts.map((name) => [name, tools[name]])));
}

/** The remote path of an uploaded bundle. */
export function incomingPath(sha256: string): string {
    checkSha(sha256);
    return `${appPaths.incoming}/${sha256}.tgz`;
}

/** Stages a release (the env file comes on stdin). */
export function stageCommand(sha256: string): string {
    checkSha(sha256);
    return runTool("stage.sh", sha256);
}

export interface CutoverOptions {
    sha256: string;
    /** This host's peer name on the LB: <privateIp>:<appPort>. */
    peer: string;
    lbPrivateIp: string;
    healthCheckPath: string;
    keepReleases: number;
    /** Bounds `systemctl restart` (stop waits up to the unit's TimeoutStopSec). */
    restartTimeoutSeconds: number;
    healthTimeoutSeconds: number;
    lbTimeoutSeconds: number;
    /** Seconds over which the host's client connections are closed before the restart (stopGraceSeconds). */
    graceSeconds?: number;
    /** `changed`: nothing to do when the host already runs this release and env, up on the LB. */
    when?: "changed";
}

/** Cuts a host over to a staged release (the env file comes on stdin). */
export function cutoverCommand(o: CutoverOptions): string {
    checkSha(o.sha256);
    return runTool(
        "cutover.sh",
        "--release",
        o.sha256,
        "--peer",
        o.peer,
        "--lb",
        o.lbPrivateIp,
        "--health-path",
        o.healthCheckPath,
        "--keep",
        String(o.keepReleases),
        "--restart-timeout",
        String(o.restartTimeoutSeconds),
        "--health-timeout",
        String(o.healthTimeoutSeconds),
        "--lb-timeout",
        String(o.lbTimeoutSeconds),
        ...(o.graceSeconds !== undefined ? ["--grace", String(o.graceSeconds)] : []),
        ...(o.when ? ["--when", o.when] : []),
    );
}

function checkSha(sha256: string): void {
    assertRule(rules.sha256, sha256, "bundle sha256");
}

export interface DeployHost {
    /** Unique per host; names the host's child resources. */
    name: string;
    connection: Connection;
    privateIp: pulumi.Input<string>;
    /** The host's tools Command (installs the host scripts); every deploy Command of the host waits for it. */
    ready: pulumi.Resource;
    /**
     * The droplet id (HostReady.hostId). When set it leads every trigger of the host's upload, stage and
     * cutover, so a replaced droplet gets the release again even if its address is reused.
     */
    hostId?: pulumi.Input<string>;
}

export interface RollingDeployArgs {
    /** App hosts in roll order. */
    hosts: DeployHost[];
    lbPrivateIp: pulumi.Input<string>;
    /** The LB config push; no host is cut over before the LB knows the peers and serves the admin API. */
    lbReady: pulumi.Resource | pulumi.Resource[];
    bundle: Bundle;
    /**
     * A release every host still keeps that the cutovers go to instead of the bundle: a rollback that
     * `npm run ops -- rollback` made and recorded. Upload and stage stay with the bundle (unchanged, so
     * they do not run), and a host that already runs it is left alone (`--when changed`).
     */
    liveSha256?: string;
    /** The rendered env file (components/env.ts buildAppEnv); secret when any input is. */
    envFile: pulumi.Output<string>;
    appPort: number;
    healthCheckPath: string;
    keepReleases: number;
    stopGraceSeconds: number;
    /** How long a restarted app may take to answer healthCheckPath locally; default cutoverTimeoutSeconds'. */
    healthTimeoutSeconds?: number;
    /** How long the LB's checker may take to report the host up; default cutoverTimeoutSeconds'. */
    lbTimeoutSeconds?: number;
    /**
     * Inputs that need the app restarted, one host at a time, without a new bundle or env (e.g. the
     * Node.js version, `node=22.12.0`): appended to every cutover's triggers.
     */
    restartTriggers?: pulumi.Input<string>[];
}

/**
 * A bundle and env file rolled onto the app hosts (see the top of this file). Its type token is still
 * `meteor-do:deploy:Release`, the class's former name, so stacks deployed before keep their URNs.
 */
export class RollingDeploy extends pulumi.ComponentResource {
    readonly uploads: remote.CopyToRemote[];
    readonly stages: remote.Command[];
    readonly cutovers: remote.Command[];
    /**
     * What makes a host roll: [bundle sha256, env hash (secret when the env is), deploy scripts hash]. Each
     * host's stage and cutover triggers are these, led by the host's hostId when given.
     */
    readonly triggers: pulumi.Output<string>[];
    /** The release the hosts run (the bundle's sha256 or liveSha256), known once every host has cut over. */
    readonly deployedSha256: pulumi.Output<string>;
    /** What each cutover runs with, for a rollback by `npm run ops` through the same gate. */
    readonly cutoverSettings: {
        healthCheckPath: string;
        keepReleases: number;
        restartTimeoutSeconds: number;
        healthTimeoutSeconds: number;
        lbTimeoutSeconds: number;
        graceSeconds: number;
    };

    constructor(name: string, args: RollingDeployArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:deploy:Release", name, {}, opts);
        checkArgs(args);
        const sha = args.bundle.sha256;
        const envHash = args.envFile.apply(envFileHash);
        this.triggers = [trigger("bundle", sha), trigger("env", envHash), trigger("scripts", deployScriptsHash())];
        const restartTimeoutSeconds = restartTimeoutFor(args.stopGraceSeconds);
        // The same default cutover.sh has when run by hand (layout.sh): the stack config's.
        const cutoverDefault = Number(configSchema().cutoverTimeoutSeconds.default);
        const healthTimeoutSeconds = args.healthTimeoutSeconds ?? cutoverDefault;
        const lbTimeoutSeconds = args.lbTimeoutSeconds ?? cutoverDefault;
        this.cutoverSettings = {
            healthCheckPath: args.healthCheckPath,
            keepReleases: args.keepReleases,
            restartTimeoutSeconds,
            healthTimeoutSeconds,
            lbTimeoutSeconds,
            graceSeconds: args.stopGraceSeconds,
        };
        const live = args.liveSha256 ?? sha;
        const cutoverTriggers = [trigger("bundle", live), ...this.triggers.slice(1)];

        this.uploads = [];
        this.stages = [];
        this.cutovers = [];
        let previous: pulumi.Resource | undefined;
        for (const host of args.hosts) {
            const hostKey = host.hostId === undefined ? [] : [trigger("droplet", host.hostId)];
            const upload = new remote.CopyToRemote(
                `${name}-${host.name}-upload`,
                {
                    connection: host.connection,
                    source: new pulumi.asset.FileAsset(args.bundle.path),
                    remotePath: incomingPath(sha),
                    triggers: [...hostKey, trigger("bundle", sha)],
                },
                { parent: this, dependsOn: [host.ready] },
            );

            // Stage depends on this host only, so all hosts stage at once.
            const stage = new remote.Command(
                `${name}-${host.name}-stage`,
                {
                    connection: host.connection,
                    create: stageCommand(sha),
                    stdin: args.envFile,
                    triggers: [...hostKey, ...this.triggers],
                    addPreviousOutputInEnv: false,
                },
                { parent: this, dependsOn: [host.ready, upload], additionalSecretOutputs: ["stdin"] },
            );

            const cutover = new remote.Command(
                `${name}-${host.name}-cutover`,
                {
                    connection: host.connection,
                    create: pulumi.all([host.privateIp, args.lbPrivateIp]).apply(([ip, lbIp]) =>
                        cutoverCommand({
                            sha256: live,
                            peer: `${ip}:${args.appPort}`,
                            lbPrivateIp: lbIp,
                            ...this.cutoverSettings,
                            ...(live !== sha ? { when: "changed" as const } : {}),
                        }),
                    ),
                    stdin: args.envFile,
                    triggers: [...hostKey, ...cutoverTriggers, ...(args.restartTriggers ?? [])],
                    addPreviousOutputInEnv: false,
                },
                {
                    parent: this,
                    dependsOn: [stage, ...[args.lbReady].flat(), ...(previous ? [previous] : [])],
                    additionalSecretOutputs: ["stdin"],
                },
            );

            this.uploads.push(upload);
            this.stages.push(stage);
            this.cutovers.push(cutover);
            previous = cutover;
        }

        this.deployedSha256 = pulumi.all(this.cutovers.map((c) => c.id)).apply(() => live);
        this.registerOutputs({ deployedSha256: this.deployedSha256 });
    }
}

function checkArgs(args: RollingDeployArgs): void {
    if (args.hosts.length === 0) throw new Error("RollingDeploy needs at least one host");
    const names = args.hosts.map((h) => h.name);
    const dup = names.find((n, i) => names.indexOf(n) !== i);
    if (dup !== undefined)
        throw new Error(`RollingDeploy host names must be unique; ${JSON.stringify(dup)} appears twice`);
    if (!path.isAbsolute(args.bundle.path))
        throw new Error(`bundle.path must be absolute, got ${JSON.stringify(args.bundle.path)}`);
    checkSha(args.bundle.sha256);
    if (args.liveSha256 !== undefined) checkSha(args.liveSha256);
    assertRule(rules.appPort, args.appPort, "appPort");
    assertRule(rules.healthCheckPath, args.healthCheckPath, "healthCheckPath");
    assertRule(rules.keepReleases, args.keepReleases, "keepReleases");
    assertRule(rules.stopGraceSeconds, args.stopGraceSeconds, "stopGraceSeconds");
    for (const key of ["healthTimeoutSeconds", "lbTimeoutSeconds"] as const) {
        if (args[key] !== undefined) assertRule(rules.cutoverTimeoutSeconds, args[key], key);
    }
}
