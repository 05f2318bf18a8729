// An npm cache the build user can use offline: stage.sh runs `npm install` as an unprivileged user, who
// cannot read root's cache. Copies, with npm's own cacache (in a child process: it imports dynamically,
// which jest's VM refuses), the entries (packuments and tarballs) of the packages a package-lock.json
// names from this machine's cache into `dir`, then gives `dir` to `user`.
import { execFileSync } from "child_process";
import * as path from "path";

const COPY = `
const [cacachePath, source, target, lockFile] = process.argv.slice(1);
const cacache = require(cacachePath);
const lock = require(lockFile);
const wanted = Object.entries(lock.packages).filter(([at]) => at !== "")
    .map(([at, p]) => ({ name: at.replace(/^.*node_modules\\//, ""), version: p.version }));
(async () => {
    let copied = 0;
    for (const key of Object.keys(await cacache.ls(source))) {
        const hit = wanted.some(({ name, version }) =>
            key.endsWith("/" + name) || key.endsWith("/" + name.split("/").pop() + "-" + version + ".tgz"));
        if (!hit) continue;
        const { data, metadata, integrity } = await cacache.get(source, key);
        await cacache.put(target, key, data, { metadata, integrity });
        copied++;
    }
    if (copied < wanted.length) throw new Error("npm cache: " + copied + " entries for " + wanted.length + " packages");
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

export function builderNpmCache(lockFile: string, dir: string, user: string): string {
    const npm = (...args: string[]) => execFileSync("npm", args, { encoding: "utf8" }).trim();
    const cacache = path.join(npm("root", "-g"), "npm", "node_modules", "cacache");
    const source = path.join(npm("config", "get", "cache"), "_cacache");
    execFileSync(process.execPath, ["-e", COPY, cacache, source, path.join(dir, "_cacache"), lockFile], {
        stdio: ["ignore", "inherit", "inherit"],
    });
    execFileSync("chown", ["-R", `${user}:`, dir]);
    return dir;
}
