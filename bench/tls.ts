// npm run bench:tls [-- --seconds 5]   (~1 minute)
//
// TLS handshakes through the LB, for reconnect storms: full handshakes (TLS 1.3, a new session each) and
// resumed ones (TLS 1.2 session ids, and TLS 1.3's stateful tickets, both from the LB's shared session
// cache; stateless tickets are off in both LBs),
// with `openssl s_time` against ours (the production templates and TLS policy) and HAProxy 2.6 (the same
// certificate, ciphers and no tickets), both measured at the same time so the machine's other load weighs
// on each alike. Per LB: handshakes per second, handshakes per CPU second of the LB's own processes, and
// how many of the "reuse" handshakes really resumed. The last line of output is one JSON object.
import { ChildProcess, execFile, spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { renderNginx } from "../nginx/render";
import { selfSignedCert } from "../test/support/certs";
import { tempDir } from "../test/support/files";
import { loopbackView, startNginxConf, stopAll } from "../test/support/nginx";
import { portOpen } from "../test/support/ports";
import { stop, track } from "../test/support/processes";
import { sleep, waitFor } from "../test/support/wait";
import { cpuSeconds, tree } from "./proc";

const execFileP = promisify(execFile);
const i = process.argv.indexOf("--seconds");
const SECONDS = i > 0 ? Number(process.argv[i + 1]) : 5;
const PORT = { ours: 29781, haproxy: 29782 };
const OURS = { http: 29780, admin: 29789 };
type Lb = keyof typeof PORT;
const CIPHERS =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

function oursConf(dir: string): string {
    const view = loopbackView(
        dir,
        [{ ip: "127.0.0.97", port: 29797 }],
        { http: OURS.http, https: PORT.ours, admin: OURS.admin },
        { workerProcesses: 1 },
    );
    const files = renderNginx(view);
    files["http/runtime.conf"] = files["http/runtime.conf"].replace(/^access_log .*$/m, "access_log off;");
    for (const [rel, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(view.paths.prefix, rel)), { recursive: true });
        fs.writeFileSync(path.join(view.paths.prefix, rel), text);
    }
    return path.join(view.paths.prefix, "nginx.conf");
}

function haproxyConf(dir: string, pem: string): string {
    return `global
    nbthread 1
    pidfile ${dir}/haproxy.pid
    ssl-default-bind-ciphers ${CIPHERS}
    ssl-default-bind-options ssl-min-ver TLSv1.2 no-tls-tickets
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend app
    bind 127.0.0.1:${PORT.haproxy} ssl crt ${pem} alpn h2,http/1.1
    default_backend app
backend app
    server s0 127.0.0.97:29797
`;
}

interface Run {
    wallS: number;
    handshakes: number;
    perS: number;
    perCpuS: number;
    resumed: number;
}

async function sTime(lb: Lb, pids: number[], args: string[]): Promise<Run> {
    const cpu0 = cpuSeconds(pids);
    const t0 = Date.now();
    const { stdout } = await execFileP(
        "openssl",
        ["s_time", "-connect", `127.0.0.1:${PORT[lb]}`, "-time", String(SECONDS), ...args],
        { encoding: "utf8", timeout: (SECONDS + 60) * 1000, maxBuffer: 64 * 1024 * 1024 },
    );
    const wall = (Date.now() - t0) / 1000;
    const cpu = cpuSeconds(pids) - cpu0;
    // "N connections in X real seconds" for each timed part; -reuse runs one timed part only.
    const m = [...stdout.matchAll(/(\d+) connections in ([\d.]+) real seconds/g)].pop();
    if (!m) throw new Error(`cannot read s_time output: ${stdout.slice(-500)}`);
    const handshakes = Number(m[1]);
    return {
        handshakes,
        perS: Math.round(handshakes / Number(m[2])),
        perCpuS: Math.round(handshakes / Math.max(cpu, 0.01)),
        // s_time prints one character per connection: "r" when the session was resumed.
        resumed: (stdout.match(/^[rt3*]+$/gm) ?? []).join("").replace(/[^r]/g, "").length,
        wallS: Math.round(wall * 10) / 10,
    };
}

async function main() {
    const dir = tempDir("bench-tls");
    const procs: Partial<Record<Lb | "backend", ChildProcess>> = {};
    try {
        const { certificate, privateKey } = selfSignedCert(dir);
        const pem = path.join(dir, "haproxy.pem");
        fs.writeFileSync(pem, fs.readFileSync(certificate, "utf8") + fs.readFileSync(privateKey, "utf8"));
        fs.mkdirSync(path.join(dir, "ours"));
        for (const f of ["cert.pem", "key.pem"]) fs.copyFileSync(path.join(dir, f), path.join(dir, "ours", f));
        // The app both LBs pass s_time's GET / to (TLS 1.3 resumption reads its ticket with a request).
        procs.backend = track(
            spawn(
                process.execPath,
                [path.join(__dirname, "../test/support/static-backend.js"), "127.0.0.97", "29797"],
                {
                    stdio: ["ignore", "ignore", "inherit"],
                },
            ),
        );
        await waitFor("backend listening", () => portOpen("127.0.0.97", 29797), 10000);
        procs.ours = await startNginxConf(oursConf(path.join(dir, "ours")), OURS.admin);
        fs.writeFileSync(path.join(dir, "haproxy.cfg"), haproxyConf(dir, pem));
        procs.haproxy = track(
            spawn("/usr/sbin/haproxy", ["-db", "-f", path.join(dir, "haproxy.cfg")], {
                stdio: ["ignore", "ignore", "inherit"],
            }),
        );
        await waitFor("haproxy listening", () => portOpen("127.0.0.1", PORT.haproxy), 10000);
        await sleep(500);
        const lbs: Lb[] = ["ours", "haproxy"];
        const pids = Object.fromEntries(lbs.map((lb) => [lb, tree(procs[lb]!.pid!)])) as Record<Lb, number[]>;
        const both = (args: string[]) => Promise.all(lbs.map((lb) => sTime(lb, pids[lb], args)));
        const [fullOurs, fullHaproxy] = await both(["-new", "-tls1_3"]);
        // Resumptions send a GET / on each connection, as a browser does (both LBs pass it to the same
        // backend): s_time reads a TLS 1.3 ticket only with a request, and HAProxy resumes no TLS 1.2 session
        // of a connection closed right after its handshake (it does after a request).
        const [resOurs, resHaproxy] = await both(["-reuse", "-tls1_2", "-www", "/"]);
        const [res13Ours, res13Haproxy] = await both(["-reuse", "-tls1_3", "-www", "/"]);
        const result = {
            bench: "tls",
            settings: {
                seconds: SECONDS,
                full: "TLS 1.3, new session each",
                resumed: "TLS 1.2 session id reuse, GET / on each",
                resumedTls13: "TLS 1.3 ticket reuse, GET / on each",
            },
            ours: { full: fullOurs, resumed: resOurs, resumedTls13: res13Ours },
            haproxy: { full: fullHaproxy, resumed: resHaproxy, resumedTls13: res13Haproxy },
            ratio: {
                fullPerCpuS: Math.round((fullOurs.perCpuS / fullHaproxy.perCpuS) * 100) / 100,
                resumedPerCpuS: Math.round((resOurs.perCpuS / resHaproxy.perCpuS) * 100) / 100,
                resumedTls13PerCpuS: Math.round((res13Ours.perCpuS / res13Haproxy.perCpuS) * 100) / 100,
            },
        };
        console.log(JSON.stringify(result));
    } finally {
        for (const p of Object.values(procs)) if (p) await stop(p);
        await stopAll();
    }
}

main().catch(async (e) => {
    console.error(e);
    await stopAll();
    process.exit(1);
});
