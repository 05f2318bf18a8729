import * as layout from "../lib/layout";
import { shellPatterns } from "../lib/validate";
import { shellQuote } from "./commands";
import { configSchema } from "./config";

/**
 * layout.sh, which every host script sources: the host layout (lib/layout.ts), the patterns the scripts
 * check arguments with (lib/validate.ts) and, for a script run by hand, the defaults of the stack config
 * (Pulumi.yaml). Rendered here and installed with the scripts by the tools Command, so no script types a
 * path, port or rule of its own. Pure: its text is part of the scripts' hash (the `scripts=` triggers).
 */
export function renderLayoutSh(): string {
    const defaults = configSchema();
    const num = (key: string) => Number(defaults[key].default);
    const values: [string, string | number][] = [
        ["LAYOUT_TOOLS_DIR", layout.toolsDir],
        ["LAYOUT_DEPLOY_USER", layout.deployUser],
        ["LAYOUT_OPERATOR_USER", layout.operatorUser],
        ["LAYOUT_BUILD_USER", layout.buildUser],
        ["LAYOUT_APP_ROOT", layout.appRoot],
        ["LAYOUT_ENV_ROOT", layout.envRoot],
        ["LAYOUT_APP_UNIT", layout.appUnit],
        ["LAYOUT_APP_UNIT_DROPIN_DIR", layout.appUnitDropInDir],
        ["LAYOUT_NODE_PREFIX", layout.nodePrefix],
        ["LAYOUT_NODE_BIN_DIR", layout.nodeBinDir],
        ["LAYOUT_TLS_DIR", layout.tlsDir],
        ["LAYOUT_LB_NGINX_ROOT", layout.lbNginxRoot],
        ["LAYOUT_ACME_WEBROOT", layout.acmeWebroot],
        ["LAYOUT_LB_ADMIN_PORT", layout.lbAdminPort],
        ["LAYOUT_FAILOVER_DIR", layout.failoverDir],
        ["LAYOUT_LB_RUN_DIR", layout.lbRunDir],
        ["LAYOUT_LB_ROLE_FILE", layout.lbRoleFile],
        ["LAYOUT_LB_STEP_DOWN_FILE", layout.lbStepDownFile],
        ["LAYOUT_WG_PORT", layout.wireguardPort],
        ["LAYOUT_TUNNEL_ADDRESSES", layout.tunnelAddresses.join(" ")],
        ["LAYOUT_TUNNEL_VIP", layout.tunnelVip],
        ...Object.entries(shellPatterns),
        ["DEFAULT_HEALTH_CHECK_PATH", String(defaults.healthCheckPath.default)],
        ["DEFAULT_KEEP_RELEASES", num("keepReleases")],
        ["DEFAULT_STOP_GRACE", num("stopGraceSeconds")],
        ["DEFAULT_RESTART_TIMEOUT", layout.restartTimeoutSeconds(num("stopGraceSeconds"))],
        ["DEFAULT_CUTOVER_TIMEOUT", num("cutoverTimeoutSeconds")],
    ];
    return [
        "# shellcheck shell=bash",
        "# shellcheck disable=SC2034  # sourced: each script uses the names it needs",
        "# Rendered by the program (components/hostLayout.ts) from its host layout, its validation rules and the",
        "# stack config's defaults; installed beside the host scripts. Not edited by hand.",
        ...values.map(([name, v]) => `${name}=${typeof v === "number" ? v : shellQuote(v)}`),
        "",
    ].join("\n");
}
