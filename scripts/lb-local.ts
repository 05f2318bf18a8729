// Runs the load balancer locally with the same templates as production (only paths and ports differ):
//   npm run lb:local -- --backends 127.0.0.1:19001,127.0.0.1:19002 --http-port 18080 --https-port 18443 \
//       [--admin-port N (default: the LB's admin port + 10000)] [--listen 127.0.0.1] [--prefix DIR] [--stickiness ip|cookie] [--health-path /]
// A self-signed certificate is made with the openssl CLI; nginx runs in the foreground until Ctrl-C.
import { spawn, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { lbAdminPort } from "../lib/layout";
import { LbView, renderNginx } from "../nginx/render";
import { localView } from "../nginx/views";

function parse(argv: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
        const [k, v] = a.includes("=") ? a.slice(2).split(/=(.*)/s) : [a.slice(2), argv[++i]];
        if (v === undefined) throw new Error(`--${k} needs a value`);
        out[k] = v;
    }
    return out;
}

function main(): void {
    const opts = parse(process.argv.slice(2));
    const known = [
        "backends",
        "http-port",
        "https-port",
        "admin-port",
        "listen",
        "prefix",
        "stickiness",
        "health-path",
    ];
    for (const k of Object.keys(opts))
        if (!known.includes(k)) throw new Error(`unknown option --${k} (known: ${known.join(", ")})`);
    if (!opts.backends) throw new Error("--backends ip:port[,ip:port...] is required");
    const peers = opts.backends.split(",").map((b) => {
        const m = /^(.+):(\d+)$/.exec(b.trim());
        if (!m) throw new Error(`backend "${b}" must be ip:port`);
        return { ip: m[1], port: Number(m[2]) };
    });
    const made = !opts.prefix;
    const dir = path.resolve(opts.prefix ?? fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-lb-local-")));
    for (const d of ["tmp", "logs", "acme", "tls"]) fs.mkdirSync(path.join(dir, d), { recursive: true });
    fs.chmodSync(dir, 0o755);

    const certificate = path.join(dir, "tls/cert.pem");
    const privateKey = path.join(dir, "tls/key.pem");
    if (!fs.existsSync(certificate)) {
        execFileSync(
            "openssl",
            [
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                privateKey,
                "-out",
                certificate,
                "-days",
                "30",
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ],
            { stdio: "ignore" },
        );
        fs.chmodSync(privateKey, 0o600);
    }

    const view = localView({
        dir,
        peers,
        listen: {
            address: opts.listen ?? "127.0.0.1",
            http: Number(opts["http-port"] ?? 18080),
            https: Number(opts["https-port"] ?? 18443),
            // Unprivileged stand-ins for 80, 443 and the admin port.
            admin: Number(opts["admin-port"] ?? lbAdminPort + 10000),
        },
        tls: { certificate, privateKey },
        stickiness: (opts.stickiness ?? "ip") as LbView["stickiness"],
        healthCheck: { path: opts["health-path"] ?? "/" },
    });
    const files = renderNginx(view);
    fs.rmSync(view.paths.prefix, { recursive: true, force: true });
    for (const [rel, text] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(view.paths.prefix, rel)), { recursive: true });
        fs.writeFileSync(path.join(view.paths.prefix, rel), text);
    }

    const conf = path.join(view.paths.prefix, "nginx.conf");
    const nginx = spawn("/usr/sbin/nginx", ["-c", conf, "-g", "daemon off;"], { stdio: "inherit" });
    const base = `${view.listen.address}`;
    console.log(`meteor-do LB (pid ${nginx.pid}) for ${peers.map((p) => `${p.ip}:${p.port}`).join(", ")}
  app:     https://${base}:${view.listen.https}/   (self-signed; http://${base}:${view.listen.http}/ redirects)
  status:  https://${base}:${view.listen.https}/check-status?format=json
  admin:   http://${base}:${view.listen.admin}/lb/peers
  config:  ${view.paths.prefix}   logs: ${path.join(dir, "logs")}
Ctrl-C stops it.`);

    let stopping = false;
    const stop = () => {
        if (stopping) return;
        stopping = true;
        if (nginx.exitCode === null) process.kill(nginx.pid!, "SIGQUIT");
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    nginx.on("exit", (code, signal) => {
        if (!stopping) {
            console.error(`nginx exited (${code ?? signal})`);
            if (fs.existsSync(view.paths.errorLog)) console.error(fs.readFileSync(view.paths.errorLog, "utf8"));
        }
        if (made) fs.rmSync(dir, { recursive: true, force: true });
        process.exit(stopping ? 0 : 1);
    });
}

try {
    main();
} catch (e) {
    console.error(`lb:local: ${(e as Error).message}`);
    process.exit(2);
}
