#!/usr/bin/env node
// Builds the sample server into a tarball laid out like `meteor build --server-only` output:
//   node sample-app/build.js [--out FILE.tgz] [--release LABEL] [--broken[=exit|unhealthy]] [--node-version X.Y.Z]
//                            [--require-mongo-url]
// --require-mongo-url: the server stops at start without MONGO_URL, with Meteor's own message.
// bundle/star.json says which Node.js the bundle needs (`nodeVersion`, as `meteor build` records it); the
// program installs that version on the hosts. --node-version writes another one (the e2e's mirror serves
// this machine's Node).
// The server's npm deps are installed into bundle/programs/server at build time (`npm ci --prefer-offline` against the
// configured registry), so the tarball is self-contained for hosts without registry access.
// The tarball is deterministic (sorted entries, fixed mtime and owner, `gzip -n`): same source, same sha256.
"use strict";

const { execFileSync } = require("child_process");
const { createHash } = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");

const SOURCE = path.join(__dirname, "bundle");

function parseArgs(argv) {
    const opts = {
        out: path.join(__dirname, "dist", "sample-bundle.tgz"),
        release: "sample",
        broken: null,
        nodeVersion: null,
        requireMongoUrl: false,
    };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === "--out") opts.out = path.resolve(need(argv, ++i, a));
        else if (a === "--release") opts.release = need(argv, ++i, a);
        else if (a === "--broken") opts.broken = "exit";
        else if (a.startsWith("--broken=")) opts.broken = a.slice("--broken=".length);
        else if (a === "--node-version") opts.nodeVersion = need(argv, ++i, a);
        else if (a === "--require-mongo-url") opts.requireMongoUrl = true;
        else throw new Error(`unknown argument ${a}`);
    }
    if (opts.broken !== null && !["exit", "unhealthy"].includes(opts.broken)) {
        throw new Error(`--broken must be exit or unhealthy, not ${opts.broken}`);
    }
    if (opts.nodeVersion !== null && !/^\d+\.\d+\.\d+$/.test(opts.nodeVersion)) {
        throw new Error(`--node-version must be an exact version X.Y.Z, not ${opts.nodeVersion}`);
    }
    return opts;
}

function need(argv, i, flag) {
    if (i >= argv.length) throw new Error(`${flag} needs a value`);
    return argv[i];
}

function build(opts) {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-bundle-"));
    try {
        const bundle = path.join(work, "bundle");
        fs.cpSync(SOURCE, bundle, { recursive: true, filter: (src) => !src.includes(`${path.sep}node_modules`) });
        if (opts.nodeVersion) {
            const starFile = path.join(bundle, "star.json");
            const star = JSON.parse(fs.readFileSync(starFile, "utf8"));
            fs.writeFileSync(starFile, JSON.stringify({ ...star, nodeVersion: opts.nodeVersion }, null, 2) + "\n");
        }
        const server = path.join(bundle, "programs", "server");
        const info = { label: opts.release };
        if (opts.broken) info.broken = opts.broken;
        if (opts.requireMongoUrl) info.requireMongoUrl = true;
        fs.writeFileSync(path.join(server, "release.json"), JSON.stringify(info) + "\n");
        execFileSync(
            "npm",
            ["ci", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            {
                cwd: server,
                stdio: ["ignore", "ignore", "inherit"],
            },
        );
        fs.mkdirSync(path.dirname(opts.out), { recursive: true });
        const tmpOut = `${opts.out}.tmp-${process.pid}`;
        // GNU tar + gzip -n rather than a JS tar writer: they normalise order, times, owners and modes in one place.
        execFileSync(
            "bash",
            [
                "-c",
                'set -euo pipefail; tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode="u+rwX,go+rX,go-w" ' +
                    '-C "$1" -cf - bundle | gzip -n -9 > "$2"',
                "build",
                work,
                tmpOut,
            ],
            { stdio: ["ignore", "inherit", "inherit"] },
        );
        fs.renameSync(tmpOut, opts.out);
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
    const sha256 = createHash("sha256").update(fs.readFileSync(opts.out)).digest("hex");
    return { path: opts.out, sha256 };
}

module.exports = { build, parseArgs };

if (require.main === module) {
    try {
        const result = build(parseArgs(process.argv.slice(2)));
        console.log(JSON.stringify(result));
    } catch (e) {
        console.error(`sample:bundle: ${e.message}`);
        process.exit(1);
    }
}
