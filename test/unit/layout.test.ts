// One home for the host layout (lib/layout.ts): the scripts get it through layout.sh, cloud-init and
// nginx through their views, and none of them types a path, port or unit of its own.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as layout from "../../lib/layout";
import { configSchema } from "../../components/config";
import { cutoverCommand } from "../../components/deploy";
import { renderLayoutSh } from "../../components/hostLayout";
import { hostScripts } from "../../components/hostTools";
import { shellPatterns } from "../../lib/validate";

const root = path.resolve(__dirname, "../..");

/** The variables layout.sh sets, as bash sees them once sourced. */
function sourced(): Record<string, string> {
    const names = renderLayoutSh()
        .split("\n")
        .map((l) => /^([A-Z0-9_]+)=/.exec(l)?.[1])
        .filter((n): n is string => n !== undefined);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "layout-")), "layout.sh");
    fs.writeFileSync(file, renderLayoutSh());
    const script = `. "$1"; for n in ${names.join(" ")}; do printf '%s=%s\\0' "$n" "\${!n}"; done`;
    const r = spawnSync("bash", ["-c", script, "bash", file], { encoding: "utf8" });
    fs.rmSync(path.dirname(file), { recursive: true });
    expect(r.stderr).toBe("");
    return Object.fromEntries(
        r.stdout
            .split("\0")
            .filter((x) => x !== "")
            .map((x) => [x.slice(0, x.indexOf("=")), x.slice(x.indexOf("=") + 1)]),
    );
}

test("layout.sh gives bash the program's layout, patterns and defaults, value for value", () => {
    const defaults = configSchema();
    expect(sourced()).toEqual({
        LAYOUT_TOOLS_DIR: layout.toolsDir,
        LAYOUT_DEPLOY_USER: layout.deployUser,
        LAYOUT_OPERATOR_USER: layout.operatorUser,
        LAYOUT_BUILD_USER: layout.buildUser,
        LAYOUT_APP_ROOT: layout.appRoot,
        LAYOUT_ENV_ROOT: layout.envRoot,
        LAYOUT_APP_UNIT: layout.appUnit,
        LAYOUT_APP_UNIT_DROPIN_DIR: layout.appUnitDropInDir,
        LAYOUT_NODE_PREFIX: layout.nodePrefix,
        LAYOUT_NODE_BIN_DIR: layout.nodeBinDir,
        LAYOUT_TLS_DIR: layout.tlsDir,
        LAYOUT_LB_NGINX_ROOT: layout.lbNginxRoot,
        LAYOUT_ACME_WEBROOT: layout.acmeWebroot,
        LAYOUT_LB_ADMIN_PORT: String(layout.lbAdminPort),
        LAYOUT_FAILOVER_DIR: layout.failoverDir,
        LAYOUT_LB_RUN_DIR: layout.lbRunDir,
        LAYOUT_LB_ROLE_FILE: layout.lbRoleFile,
        LAYOUT_LB_STEP_DOWN_FILE: layout.lbStepDownFile,
        LAYOUT_WG_PORT: String(layout.wireguardPort),
        LAYOUT_TUNNEL_ADDRESSES: layout.tunnelAddresses.join(" "),
        LAYOUT_TUNNEL_VIP: layout.tunnelVip,
        ...shellPatterns,
        DEFAULT_HEALTH_CHECK_PATH: String(defaults.healthCheckPath.default),
        DEFAULT_KEEP_RELEASES: String(defaults.keepReleases.default),
        DEFAULT_STOP_GRACE: String(defaults.stopGraceSeconds.default),
        DEFAULT_RESTART_TIMEOUT: String(layout.restartTimeoutSeconds(Number(defaults.stopGraceSeconds.default))),
        DEFAULT_CUTOVER_TIMEOUT: String(defaults.cutoverTimeoutSeconds.default),
    });
    expect(hostScripts()["layout.sh"]).toBe(renderLayoutSh());
});

test("the derived paths stay under their roots", () => {
    for (const p of Object.values(layout.appPaths)) expect(p.startsWith(`${layout.appRoot}`)).toBe(true);
    for (const p of Object.values(layout.envPaths)) expect(p.startsWith(`${layout.envRoot}`)).toBe(true);
    expect(layout.lbHostPaths.prefix).toBe(`${layout.lbNginxRoot}/current`);
    expect(layout.mongoCaPath.startsWith(`${layout.mongoCaDir}/`)).toBe(true);
    expect(layout.unitStopTimeoutSeconds(20)).toBe(30);
    expect(layout.restartTimeoutSeconds(20)).toBe(60);
});

test("cutover.sh run by hand has the defaults the program passes for a default stack", () => {
    const d = configSchema();
    const grace = Number(d.stopGraceSeconds.default);
    const cmd = cutoverCommand({
        sha256: "a".repeat(64),
        peer: "10.0.0.5:3000",
        lbPrivateIp: "10.0.0.2",
        healthCheckPath: String(d.healthCheckPath.default),
        keepReleases: Number(d.keepReleases.default),
        restartTimeoutSeconds: layout.restartTimeoutSeconds(grace),
        healthTimeoutSeconds: Number(d.cutoverTimeoutSeconds.default),
        lbTimeoutSeconds: Number(d.cutoverTimeoutSeconds.default),
        graceSeconds: grace,
    });
    const s = sourced();
    expect(cmd).toContain(
        `--health-path ${s.DEFAULT_HEALTH_CHECK_PATH} --keep ${s.DEFAULT_KEEP_RELEASES} --restart-timeout ${s.DEFAULT_RESTART_TIMEOUT} ` +
            `--health-timeout ${s.DEFAULT_CUTOVER_TIMEOUT} --lb-timeout ${s.DEFAULT_CUTOVER_TIMEOUT} --grace ${s.DEFAULT_STOP_GRACE}`,
    );
});

/** Every file the hosts run or read that the program does not render from lib/layout.ts itself. */
function hostSideFiles(): string[] {
    const files: string[] = [];
    const walk = (dir: string) => {
        for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
            const p = path.join(dir, e.name);
            if (e.isDirectory()) walk(p);
            else if (/\.(sh|lua|mustache)$/.test(e.name)) files.push(p);
        }
    };
    walk(path.join(root, "components/host"));
    walk(path.join(root, "nginx"));
    return files;
}

test("no host script, template or Lua module types a value of the layout", () => {
    const values = [
        String(layout.lbAdminPort),
        layout.toolsDir,
        layout.appRoot,
        layout.envRoot,
        layout.appUnit,
        layout.tlsDir,
        layout.lbNginxRoot,
        layout.acmeWebroot,
        layout.nodePrefix,
        layout.mongoCaDir,
    ];
    const found: string[] = [];
    for (const file of hostSideFiles()) {
        const text = fs.readFileSync(file, "utf8");
        for (const v of values) if (text.includes(v)) found.push(`${path.relative(root, file)}: ${v}`);
    }
    expect(hostSideFiles().length).toBeGreaterThan(10);
    expect(found).toEqual([]);
});

test("reboot windows: one app host per half hour from 04:00 UTC, after the LB's 03:00; a minute later past 48 hosts", () => {
    expect([1, 2, 3, 40, 48, 49, 50, 97, 100].map(layout.rebootWindow)).toEqual([
        "04:00",
        "04:30",
        "05:00",
        "23:30",
        "03:30",
        "04:01",
        "04:31",
        "04:02",
        "05:32",
    ]);
    expect(layout.lbRebootWindow).toBe("03:00");
});
