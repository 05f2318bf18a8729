// The views renderNginx renders, one builder per place the balancer runs: an LB droplet (productionView,
// what LbConfig pushes) and this machine (localView: lb:local, the nginx suite, benchmarks). The templates
// are the same; paths, ports and check timings differ.
import * as path from "path";
import { acmeWebroot, lbAdminPort, lbHostPaths, lbOpenFiles, lbRoleFile, nginxUser } from "../lib/layout";
import { assertRule, rules } from "../lib/validate";
import type { LbHealthCheck, LbPeer, LbView } from "./render";

/** What the production view is made of, once every Pulumi Input is known (components/lbConfig.ts). */
export interface ProductionSite {
    /** App droplets' private IPs, in host order. */
    peers: string[];
    /** The app droplets' names, in the same order (the status page shows them). */
    peerNames?: string[];
    appPort: number;
    /** The LB's own private IP: the admin API treats calls from it like calls from 127.0.0.1. */
    lbPrivateIp: string;
    vpcCidr: string;
    /** Domain or public IP; also the Host header of http health checks. */
    serverName: string;
    healthCheck: Omit<LbHealthCheck, "host">;
    stickiness: LbView["stickiness"];
    trustedProxyCount: number;
    /** CIDRs of the trusted proxies; required when trustedProxyCount > 0. */
    realIpFrom?: string[];
    /** Who may read /check-status besides loopback and the VPC; never everyone (a /0). */
    adminCidrs: string[];
    /** Strict-Transport-Security max-age; 0: no header. */
    hstsMaxAge: number;
    /** Per client address on 80/443 (0: no limit). */
    limits: { connectionsPerIp: number; requestsPerSecondPerIp: number };
    /** Paths on the LB host (written by the TLS Command before the push). */
    tls: LbView["tls"];
    /** lbCount 2: the other LB's private IP (ACME challenges this LB does not hold are asked there). */
    otherLbPrivateIp?: string;
    /** lbCount 2: this LB's droplet name (the status page names the LB that answered, and its role). */
    lbName?: string;
}

/** The production view: Debian's paths (lib/layout.ts), public ports 80/443, the admin port inside only. */
export function productionView(s: ProductionSite): LbView {
    if (s.peerNames !== undefined && s.peerNames.length !== s.peers.length)
        throw new Error(`peerNames has ${s.peerNames.length} names for ${s.peers.length} peers`);
    for (const c of s.adminCidrs) assertRule(rules.narrowCidr, c, "adminCidrs entry");
    return {
        peers: s.peers.map((ip, i) => ({ ip, port: s.appPort, ...(s.peerNames ? { host: s.peerNames[i] } : {}) })),
        healthCheck: { ...s.healthCheck, host: s.serverName },
        stickiness: s.stickiness,
        trustedProxyCount: s.trustedProxyCount,
        realIpFrom: s.realIpFrom,
        hstsMaxAge: s.hstsMaxAge,
        limits: s.limits,
        serverName: s.serverName,
        tls: s.tls,
        statusAllow: ["127.0.0.0/8", "::1", s.vpcCidr, ...s.adminCidrs],
        adminSelf: [s.lbPrivateIp],
        // The admin API (drain/undrain, the config the push checks) is for the LB itself and the app
        // hosts: loopback first (lb-push.sh asks there), then the private address; never the public one.
        listen: { http: 80, https: 443, admin: lbAdminPort, adminAddresses: ["127.0.0.1", s.lbPrivateIp] },
        paths: { ...lbHostPaths },
        acmeWebroot,
        ...(s.otherLbPrivateIp ? { acmePeer: `${s.otherLbPrivateIp}:80` } : {}),
        ...(s.lbName ? { failover: { name: s.lbName, roleFile: lbRoleFile } } : {}),
        user: nginxUser,
        workerProcesses: "auto",
        workerRlimitNofile: lbOpenFiles,
    };
}

/** Paths for a run outside a droplet: everything under one directory. */
export function localPaths(dir: string): Pick<LbView, "paths" | "acmeWebroot"> {
    return {
        paths: {
            prefix: path.join(dir, "tree"),
            pid: path.join(dir, "logs/nginx.pid"),
            errorLog: path.join(dir, "logs/error.log"),
            accessLog: path.join(dir, "logs/access.log"),
            temp: path.join(dir, "tmp"),
        },
        acmeWebroot: path.join(dir, "acme"),
    };
}

/** A run on this machine: the required parts, and any LbView field to set instead of its default. */
export interface LocalSite extends Partial<Omit<LbView, "peers" | "listen" | "tls" | "healthCheck">> {
    /** Working directory: the tree, logs, temp files and ACME webroot go under it (localPaths). */
    dir: string;
    peers: LbPeer[];
    listen: LbView["listen"];
    /** A self-signed pair on this machine. */
    tls: { certificate: string; privateKey: string };
    /** Defaults: GET / every 750 ms, 1 s timeout, rise 2, fall 2, Host: serverName. */
    healthCheck?: Partial<LbHealthCheck>;
}

/**
 * The local view: unprivileged (no `user`), two workers, no trusted proxies, /check-status for loopback
 * only, serverName "localhost" unless given.
 */
export function localView(site: LocalSite): LbView {
    const { dir, healthCheck, tls, ...rest } = site;
    const serverName = site.serverName ?? "localhost";
    return {
        stickiness: "ip",
        trustedProxyCount: 0,
        statusAllow: ["127.0.0.0/8", "::1"],
        workerProcesses: 2,
        ...localPaths(dir),
        ...rest,
        serverName,
        healthCheck: {
            path: "/",
            intervalMs: 750,
            rise: 2,
            fall: 2,
            timeoutMs: 1000,
            type: "http",
            host: serverName,
            ...healthCheck,
        },
        tls: { ...tls, selfSigned: true },
    };
}
