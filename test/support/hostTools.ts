import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { writeHostTools } from "../../components/hostTools";

let dir: string | undefined;

/**
 * The host scripts as the tools Command installs them (with the layout.sh they source), written once per
 * process into a temporary directory that is removed at exit. Tests and benchmarks run them from here.
 */
export function localHostTools(): string {
    if (dir === undefined) {
        const made = writeHostTools(fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-tools-")));
        process.on("exit", () => fs.rmSync(made, { recursive: true, force: true }));
        dir = made;
    }
    return dir;
}

/** The path of one installed host script. */
export function hostTool(name: string): string {
    return path.join(localHostTools(), name);
}
