// The production tree (what LbConfig pushes) is valid for Debian's nginx, and its pieces are where
// lb-push.sh and the contract expect them.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { productionView } from "../../nginx/views";
import { renderNginx } from "../../nginx/render";
import { selfSignedCert } from "../support/certs";
import { tempDir, writeTree } from "../support/files";
import { NGINX, stopAll } from "../support/nginx";

afterAll(stopAll);

const resolved = {
    peers: ["10.116.0.5", "10.116.0.6", "10.116.0.7"],
    appPort: 3000,
    lbPrivateIp: "10.116.0.2",
    vpcCidr: "10.116.0.0/20",
    serverName: "app.example.com",
    healthCheck: { path: "/", intervalMs: 750, rise: 2, fall: 2, timeoutMs: 1000, type: "http" as const },
    stickiness: "ip" as const,
    trustedProxyCount: 0,
    adminCidrs: ["203.0.113.0/24"],
    hstsMaxAge: 31536000,
    limits: { connectionsPerIp: 1000, requestsPerSecondPerIp: 100 },
    tls: {
        certificate: "/etc/meteor-do/tls/fullchain.pem",
        privateKey: "/etc/meteor-do/tls/privkey.pem",
        selfSigned: false,
    },
};

test("the production tree passes nginx -t once moved (prefix and certificate paths are the only host-specific parts)", () => {
    const dir = tempDir("render");
    const cert = selfSignedCert(dir);
    const files = renderNginx(productionView(resolved));
    const moved: Record<string, string> = {};
    for (const [rel, text] of Object.entries(files)) {
        moved[rel] = text
            .split("/etc/meteor-do/nginx/current")
            .join(`${dir}/tree`)
            .split(resolved.tls.certificate)
            .join(cert.certificate)
            .split(resolved.tls.privateKey)
            .join(cert.privateKey)
            .replace(/^error_log .*$/m, `error_log ${dir}/error.log warn;`)
            .replace(/^pid .*$/m, `pid ${dir}/nginx.pid;`)
            // nginx -t binds: the LB's private address stands in as a loopback one here.
            .replace(/^listen 10\.116\.0\.2:/m, "listen 127.0.0.2:");
    }
    writeTree(path.join(dir, "tree"), moved);
    const r = spawnSync(NGINX, ["-t", "-c", path.join(dir, "tree", "nginx.conf")], { encoding: "utf8" });
    expect(r.stderr).toContain("test is successful");
    expect(r.status).toBe(0);
});

test("production specifics: user, ports, redirect, status allow list, self addresses, stapling", () => {
    const f = renderNginx(productionView(resolved));
    expect(f["nginx.conf"]).toMatch(/^user www-data;$/m);
    expect(f["nginx.conf"]).toMatch(/^worker_rlimit_nofile 65536;$/m);
    expect(f["listen/http.conf"]).toMatch(/^listen 0\.0\.0\.0:80;$/m);
    expect(f["listen/https.conf"]).toMatch(/^listen 0\.0\.0\.0:443 ssl http2;$/m);
    expect(f["listen/admin.conf"].match(/^listen .*$/gm)).toEqual([
        "listen 127.0.0.1:8181;",
        "listen 10.116.0.2:8181;",
    ]);
    expect(f["sites/http.conf"]).toContain("return 301 https://$host$request_uri;");
    expect(f["sites/http.conf"]).toContain("root /var/www/acme;");
    expect(f["http/status-allow.conf"].match(/^ {4}\S+ 1;$/gm)).toEqual([
        "    127.0.0.0/8 1;",
        "    ::1 1;",
        "    10.116.0.0/20 1;",
        "    203.0.113.0/24 1;",
    ]);
    expect(f["lua/meteor_do/config.lua"]).toContain(
        'admin_self = { ["127.0.0.1"] = true, ["::1"] = true, ["10.116.0.2"] = true, },',
    );
    expect(f["lua/meteor_do/config.lua"]).toContain('host = "app.example.com",');
    expect(f["tls/policy.conf"]).toMatch(/^ssl_stapling on;$/m);
    expect(f["tls/policy.conf"]).toContain("include /etc/meteor-do/nginx/current/tls/resolver.conf;");
    expect(f["tls/policy.conf"]).toContain("ssl_certificate /etc/meteor-do/tls/fullchain.pem;");
    const selfSigned = renderNginx(productionView({ ...resolved, tls: { ...resolved.tls, selfSigned: true } }));
    expect(selfSigned["tls/policy.conf"]).toMatch(/^ssl_stapling off;$/m);
    expect(selfSigned["tls/policy.conf"]).not.toContain("include /etc/meteor-do/nginx/current/tls/resolver.conf;");
    // Without trusted proxies a client's X-Forwarded-For is replaced, and no real-IP rules exist.
    expect(f["http/real-ip.conf"]).not.toMatch(/^set_real_ip_from/m);
    expect(f["http/proxy.conf"]).toContain("map $remote_addr $meteor_do_forwarded_for");
    const proxied = renderNginx(productionView({ ...resolved, trustedProxyCount: 2, realIpFrom: ["198.51.100.0/24"] }));
    expect(proxied["http/real-ip.conf"]).toMatch(
        /^set_real_ip_from 198\.51\.100\.0\/24;\nreal_ip_header X-Forwarded-For;\nreal_ip_recursive on;$/m,
    );
    // Only the proxies may set the client address: the chain is kept from them alone.
    expect(proxied["http/real-ip.conf"]).toMatch(/^ {4}198\.51\.100\.0\/24 1;$/m);
    expect(proxied["http/proxy.conf"]).toContain('map "$meteor_do_from_proxy:$http_x_forwarded_for"');
    expect(() => productionView({ ...resolved, trustedProxyCount: 1 })).not.toThrow();
    expect(() => renderNginx(productionView({ ...resolved, trustedProxyCount: 1 }))).toThrow(
        "trustedProxyCount > 0 needs realIpFrom",
    );
    expect(() => renderNginx(productionView({ ...resolved, trustedProxyCount: 1, realIpFrom: ["0.0.0.0/0"] }))).toThrow(
        'realIpFrom entry is "0.0.0.0/0"',
    );
    expect(() => productionView({ ...resolved, adminCidrs: ["::/0"] })).toThrow('adminCidrs entry is "::/0"');
});

test("HTTP hardening: HSTS only when asked, per-address limits on the public servers only, short client timeouts", () => {
    const f = renderNginx(productionView(resolved));
    expect(f["sites/https.conf"]).toContain('add_header Strict-Transport-Security "max-age=31536000" always;');
    expect(f["sites/http.conf"]).not.toContain("Strict-Transport-Security");
    const noHsts = renderNginx(productionView({ ...resolved, hstsMaxAge: 0 }));
    expect(noHsts["sites/https.conf"]).not.toContain("Strict-Transport-Security");

    expect(f["http/limits.conf"]).toMatch(/^limit_conn_zone \$binary_remote_addr zone=meteor_do_conn:10m;$/m);
    expect(f["http/limits.conf"]).toMatch(
        /^limit_req_zone \$binary_remote_addr zone=meteor_do_req:10m rate=100r\/s;$/m,
    );
    expect(f["sites/limits.conf"]).toMatch(/^limit_conn meteor_do_conn 1000;$/m);
    expect(f["sites/limits.conf"]).toMatch(/^limit_req zone=meteor_do_req burst=2000 nodelay;$/m);
    for (const site of ["sites/http.conf", "sites/https.conf"])
        expect(f[site]).toContain("include /etc/meteor-do/nginx/current/sites/limits.conf;");
    expect(f["sites/admin.conf"]).not.toContain("limits.conf");
    const unlimited = renderNginx(
        productionView({ ...resolved, limits: { connectionsPerIp: 0, requestsPerSecondPerIp: 0 } }),
    );
    expect(unlimited["http/limits.conf"]).not.toMatch(/^limit_/m);
    expect(unlimited["sites/limits.conf"]).not.toMatch(/^limit_/m);

    expect(f["http/basics.conf"]).toMatch(/^client_header_timeout 10s;$/m);
    expect(f["http/basics.conf"]).toMatch(/^client_body_timeout 20s;$/m);
});

test("mustache leaves paths alone (no HTML escaping)", () => {
    const f = renderNginx(productionView(resolved));
    // Rendered templates only: plain Lua modules are copied as they are (status_html.lua escapes HTML itself).
    const rendered = Object.entries(f).filter(([k]) =>
        fs.existsSync(path.join(__dirname, "../../nginx", `${k}.mustache`)),
    );
    expect(rendered.length).toBeGreaterThan(10);
    for (const [, text] of rendered) expect(text).not.toMatch(/&#x2F;|&amp;|&quot;/);
    expect(Object.keys(f).filter((k) => k.endsWith(".mustache"))).toEqual([]);
    expect(fs.existsSync(path.join(__dirname, "../../nginx/lua/meteor_do/config.lua"))).toBe(false);
});
