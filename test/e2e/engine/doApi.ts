// A fake DigitalOcean API: the reserved-IP endpoints the LBs' takeover script calls (mocks.ts lists it),
// on the emulated public side. startDoApi() runs this file as a server in the client namespace, on an
// address of the public range nothing else uses, and records its PID so teardown ends it.
//   GET  /v2/reserved_ips/{ip}               200 {reserved_ip: {ip, region, droplet: {id, name} | null, locked}}
//   POST /v2/reserved_ips/{ip}/actions        {type: "assign", droplet_id} | {type: "unassign"}: 201 {action}
//   GET  /v2/reserved_ips/{ip}/actions/{id}  200 {action}: "in-progress", then "completed" once it moved
// Every request needs `Authorization: Bearer <the stack's failoverApiToken>` (else 401); an unknown address
// is a 404, an unknown droplet a 422. An action moves the address (reservedIps.ts) actionMs after the
// request, one action at a time in arrival order (the last assign wins, as on DigitalOcean), then completes.
// Each request is one line of do-api.log: time, method, path, status, the droplet asked for; never the token.
import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { ROOT } from "../../support/files";
import { alive } from "../../support/processes";
import { waitFor } from "../../support/wait";
import { applyFirewalls } from "./firewall";
import { assignReservedIp, holderOf } from "./reservedIps";
import { runIn } from "./ssh";
import { loadEngineState } from "./state";
import { CLIENT_NS, DATA_DIR, ip, loadState, recordServer } from "./topology";

export const DO_API_ADDRESS = "203.0.113.2";
/** From an action's request to the address moving and the action completing (E2E_DO_ACTION_MS). */
export const DO_ACTION_MS = Number(process.env.E2E_DO_ACTION_MS ?? 300);
export const DO_API_CONFIG = path.join(DATA_DIR, "do-api.json");
export const DO_API_LOG = path.join(DATA_DIR, "do-api.log");
/** The server's own output (an action that errored, a crash). */
export const DO_API_ERR = path.join(DATA_DIR, "do-api.err");
const RESERVED_IP = "digitalocean:index/reservedIp:ReservedIp::";

interface ApiConfig {
    token: string;
    /** From an action's request to the address moving and the action completing. */
    actionMs: number;
}

export interface ApiLogLine {
    at: number;
    method: string;
    path: string;
    status: number;
    dropletId?: number;
}

interface Action {
    id: number;
    status: "in-progress" | "completed" | "errored";
    type: "assign_ip" | "unassign_ip";
    started_at: string;
    completed_at: string | null;
    resource_id: number;
    resource_type: "reserved_ip";
    region_slug: string;
}

/** Starts the fake API unless it runs; returns its base URL and the token it accepts. */
export async function startDoApi(actionMs = DO_ACTION_MS): Promise<{ url: string; token: string }> {
    const url = `http://${DO_API_ADDRESS}`;
    const running = loadState()?.servers.find((s) => s.name === "do-api" && alive(s.pid));
    if (running && fs.existsSync(DO_API_CONFIG))
        return { url, token: (JSON.parse(fs.readFileSync(DO_API_CONFIG, "utf8")) as ApiConfig).token };
    const config: ApiConfig = { token: crypto.randomBytes(24).toString("hex"), actionMs };
    fs.writeFileSync(DO_API_CONFIG, JSON.stringify(config), { mode: 0o600 });
    fs.writeFileSync(DO_API_LOG, "", { mode: 0o600 });
    ip("-n", CLIENT_NS, "addr", "replace", `${DO_API_ADDRESS}/32`, "dev", "pub0");
    const out = fs.openSync(DO_API_ERR, "w", 0o600);
    const argv = ["netns", "exec", CLIENT_NS, process.execPath, "-r", "ts-node/register/transpile-only", __filename];
    const child = spawn("ip", [...argv, "serve"], { cwd: ROOT, detached: true, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    child.unref();
    recordServer({ name: "do-api", pid: child.pid!, netns: CLIENT_NS });
    const answers = async () => (await runIn(CLIENT_NS, ["curl", "-s", "-o", "/dev/null", `${url}/v2/`])).code === 0;
    await waitFor("the fake DigitalOcean API", answers, 30000, 200);
    return { url, token: config.token };
}

/** The fake API's requests so far (do-api.log). */
export function doApiLog(): ApiLogLine[] {
    if (!fs.existsSync(DO_API_LOG)) return [];
    return fs
        .readFileSync(DO_API_LOG, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ApiLogLine);
}

const toInt = (a: string) => a.split(".").reduce((n, o) => n * 256 + Number(o), 0);

function serve(): void {
    const config: ApiConfig = JSON.parse(fs.readFileSync(DO_API_CONFIG, "utf8"));
    const expected = Buffer.from(`Bearer ${config.token}`);
    const actions = new Map<number, Action>();
    let nextAction = 1000;
    let queue = Promise.resolve();

    const reservedIp = (address: string) => {
        const r = Object.entries(loadEngineState().resources).find(
            ([k, v]) => k.startsWith(RESERVED_IP) && v.state.ipAddress === address,
        )?.[1];
        if (!r) return undefined;
        const holder = holderOf(address);
        const slug = String(r.state.region ?? "nyc3");
        return {
            ip: address,
            region: { slug, name: slug, available: true },
            droplet: holder ? { id: Number(holder.dropletId), name: holder.name } : null,
            locked: false,
            project_id: "e2e",
        };
    };

    const act = (address: string, region: string, dropletId: string | undefined): Action => {
        const action: Action = {
            id: nextAction++,
            status: "in-progress",
            type: dropletId === undefined ? "unassign_ip" : "assign_ip",
            started_at: new Date().toISOString(),
            completed_at: null,
            resource_id: toInt(address),
            resource_type: "reserved_ip",
            region_slug: region,
        };
        actions.set(action.id, action);
        queue = queue.then(async () => {
            await new Promise((r) => setTimeout(r, config.actionMs));
            try {
                assignReservedIp(address, dropletId);
                action.status = "completed";
            } catch (e) {
                action.status = "errored";
                process.stderr.write(`action ${action.id}: ${e instanceof Error ? e.message : String(e)}\n`);
            }
            action.completed_at = new Date().toISOString();
            // The Cloud Firewalls' source sets name the droplets' addresses, this one included.
            try {
                applyFirewalls(loadEngineState());
            } catch (e) {
                process.stderr.write(`firewalls after action ${action.id}: ${String(e)}\n`);
            }
        });
        return action;
    };

    const server = http.createServer((req, res) => {
        let body = "";
        req.setEncoding("utf8");
        req.on("data", (d) => (body = (body + d).slice(0, 10000)));
        req.on("end", () => {
            const line: ApiLogLine = { at: Date.now(), method: req.method ?? "", path: req.url ?? "", status: 0 };
            const answer = (status: number, json: unknown) => {
                line.status = status;
                fs.appendFileSync(DO_API_LOG, JSON.stringify(line) + "\n");
                res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(json));
            };
            const error = (status: number, id: string, message: string) => answer(status, { id, message });
            const auth = Buffer.from(req.headers.authorization ?? "");
            if (auth.length !== expected.length || !crypto.timingSafeEqual(auth, expected))
                return error(401, "unauthorized", "Unable to authenticate you.");
            const m = /^\/v2\/reserved_ips\/([0-9.]+)(\/actions(?:\/(\d+))?)?\/?$/.exec(req.url ?? "");
            const found = m ? reservedIp(m[1]) : undefined;
            if (!m || !found) return error(404, "not_found", "The resource you were accessing could not be found.");
            if (req.method === "GET" && !m[2]) return answer(200, { reserved_ip: found });
            if (req.method === "GET" && m[3]) {
                const action = actions.get(Number(m[3]));
                if (!action) return error(404, "not_found", "The resource you were accessing could not be found.");
                return answer(200, { action });
            }
            if (req.method !== "POST" || m[3]) return error(405, "method_not_allowed", "Method not allowed.");
            let ask: { type?: string; droplet_id?: number };
            try {
                ask = JSON.parse(body);
            } catch {
                return error(400, "bad_request", "The request body is not JSON.");
            }
            if (ask.type === "unassign") return answer(201, { action: act(m[1], found.region.slug, undefined) });
            if (ask.type !== "assign") return error(422, "unprocessable_entity", "type must be assign or unassign");
            line.dropletId = ask.droplet_id;
            const target = Object.values(loadState()?.hosts ?? {}).find((h) => h.dropletId === String(ask.droplet_id));
            if (!target) return error(422, "unprocessable_entity", `Droplet ${ask.droplet_id} was not found.`);
            return answer(201, { action: act(m[1], found.region.slug, target.dropletId) });
        });
    });
    server.listen(80, DO_API_ADDRESS);
    process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

if (require.main === module && process.argv[2] === "serve") serve();
