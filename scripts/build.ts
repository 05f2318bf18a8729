// npm run build [-- --out DIR]: the package another Pulumi program imports (`import { MeteorSite } from
// "meteor-do"`): JavaScript and declarations from tsconfig.build.json, and beside them the files the code
// reads at run time (nginx templates and Lua, host scripts and cloud-init templates, Pulumi.yaml for the
// config defaults). DIR defaults to bin/, where package.json's main and types point.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const root = path.resolve(__dirname, "..");
const at = process.argv.indexOf("--out");
const out = path.resolve(at > 0 ? process.argv[at + 1] : path.join(root, "bin"));

fs.rmSync(out, { recursive: true, force: true });
const tsc = require.resolve("typescript/bin/tsc");
execFileSync(process.execPath, [tsc, "-p", path.join(root, "tsconfig.build.json"), "--outDir", out], {
    stdio: "inherit",
});
for (const dir of ["nginx", "components/host"]) {
    fs.cpSync(path.join(root, dir), path.join(out, dir), { recursive: true, filter: (src) => !src.endsWith(".ts") });
}
fs.copyFileSync(path.join(root, "Pulumi.yaml"), path.join(out, "Pulumi.yaml"));
console.log(`built ${path.relative(process.cwd(), out) || "."}`);
