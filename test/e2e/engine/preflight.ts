// What the topology cannot work without, checked before anything is made: plain, early errors.
import { spawnSync } from "child_process";

/** Plain, early errors for what the topology cannot work without. */
export function preflight(): void {
    if (process.getuid?.() !== 0)
        throw new Error("run as root: the topology needs network namespaces and systemd-nspawn");
    const tools = [
        "systemd-nspawn",
        "debootstrap",
        "ip",
        "nsenter",
        "ssh",
        "scp",
        "curl",
        "xz",
        "/usr/bin/python3",
        "lynis",
    ];
    const missing = tools.filter((t) => spawnSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" }).status !== 0);
    if (missing.length)
        throw new Error(
            `missing ${missing.join(", ")}: apt-get install -y systemd-container debootstrap iproute2 util-linux openssh-client curl xz-utils python3 lynis`,
        );
}
