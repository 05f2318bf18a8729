// A fresh `up` of release v1: every host booted and cloud-init done, the site over HTTPS (HTTP/2, the
// stack's own certificate), HTTP redirected, visitors stuck to one host each and spread, the status page.
import * as fs from "fs";
import * as path from "path";
import { APP_COUNT, Step } from "../scenario";
import { storedOfType } from "../engine/state";
import { clientAddresses, DATA_DIR } from "../engine/topology";
import { hostExec } from "../engine/hosts";

const step: Step = async (s) => {
    const { stack } = s;
    const r1 = await s.up("fresh", s.config(s.bundles.v1));
    if (!s.check(r1.ok, "the first up succeeds")) throw new Error("first up failed; nothing to test on");
    s.figures.upSeconds = { fresh: Math.round(r1.ms / 100) / 10 };
    s.site = String(r1.outputs?.lbReservedIp);
    const site = s.site;
    const apps = stack.appHosts();
    s.figures.hosts = stack.hosts().length;
    s.check(
        apps.length === APP_COUNT && s.figures.hosts === APP_COUNT + 1,
        `${APP_COUNT} app hosts + 1 LB booted (got ${s.figures.hosts})`,
    );
    for (const h of stack.hosts()) {
        const status = hostExec(h, ["cloud-init", "status"]).stdout;
        s.check(/status: done/.test(status), `cloud-init done on ${h.name} (${status.trim()})`);
    }
    // Verified against the certificate the stack made (no -k): TLS terminates on the LB with it.
    const certFile = path.join(DATA_DIR, "site-cert.pem");
    const cert = storedOfType(stack.engineState(), "tls:index/selfSignedCert:SelfSignedCert");
    fs.writeFileSync(certFile, String(cert?.certPem ?? ""));
    const page = await stack.curl(["--cacert", certFile, "-w", "\n%{http_code} %{http_version}", `https://${site}/`]);
    s.check(
        /\n200 2$/.test(page.stdout) && page.stdout.includes("meteor-do sample app"),
        `HTTPS / serves the sample app over HTTP/2 with the stack's certificate (${page.stdout.split("\n").pop()} ${page.stderr.trim()})`,
    );
    const info = await stack.curl(["-k", `https://${site}/info.json`]);
    s.check(info.stdout.includes(s.bundles.v1.sha256), "the site serves release v1");
    const redirect = await stack.curl([
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        `http://${site}/some/page?x=1`,
    ]);
    s.check(/^30[18] https:\/\//.test(redirect.stdout), `http:// redirects to https:// (${redirect.stdout})`);
    const nodes = new Map<string, string>();
    const sticky = await Promise.all(
        clientAddresses()
            .slice(0, 24)
            .map(async (a) => {
                const seen = new Set<string>();
                for (let i = 0; i < 4; i++) {
                    const r = await stack.curl(["-k", `https://${site}/info.json`], a);
                    try {
                        const answer = JSON.parse(r.stdout);
                        seen.add(answer.host);
                        nodes.set(answer.host, answer.node);
                    } catch {
                        seen.add(`error:${r.stderr.trim()}`);
                    }
                }
                return [...seen];
            }),
    );
    const stuck = sticky.filter((x) => x.length === 1 && !x[0].startsWith("error")).length;
    const spread = new Set(sticky.flat()).size;
    s.check(stuck === 24, `24 client addresses each stick to one host (${stuck} did)`);
    const runs = [...nodes.values()];
    s.check(
        runs.length >= 2 && runs.every((v) => v === `v${s.nodeVersion}`),
        `every host answering runs Node.js v${s.nodeVersion}, the bundle's star.json (nodeVersion auto): ${[...nodes].map(([h, v]) => `${h}=${v}`).join(" ")}`,
    );
    s.check(spread >= 2, `the 24 addresses spread over more than one host (${spread})`);
    const status = await stack.curl(["-k", `https://${site}/check-status?format=json`], clientAddresses()[0]);
    let servers: { name: string; status: string }[] = [];
    try {
        servers = JSON.parse(status.stdout).servers.server;
    } catch {
        /* checked below */
    }
    s.check(
        servers.length === APP_COUNT && servers.every((x) => x.status === "up"),
        `status page lists ${APP_COUNT} peers up (${servers.map((x) => `${x.name}=${x.status}`).join(" ") || status.stdout.slice(0, 200)})`,
    );
};
export default step;
