/**
 * Where things are on the droplets: every host path, port, unit and user that both the program and the
 * host side (components/host/*.sh, cloud-init, the nginx tree) use. The program imports this module;
 * the host scripts source layout.sh, rendered from it (components/hostLayout.ts) and installed with them;
 * cloud-init and nginx templates get the values through their views. Nothing here is typed twice.
 */

/** The nginx admin API (drain/undrain/state) port: loopback on the LB, and app hosts for themselves. */
export const lbAdminPort = 8181;

/** The SSH user every Command logs in as (sudo without password, key-only). */
export const deployUser = "deploy";
/** The user operators log in as for `npm run ops` (operatorSshKeys; operator.sh). */
export const operatorUser = "ops";
/** The unprivileged user the app runs as. */
export const appUser = "meteor";
/**
 * The unprivileged user stage.sh unpacks bundles and runs `npm install` as (in a sandboxed transient unit):
 * nothing from a bundle, install scripts included, ever runs as root.
 */
export const buildUser = "meteor-build";
/** The user nginx's workers run as (Debian's). */
export const nginxUser = "www-data";

/** Where the tools Command installs the host scripts on every host. */
export const toolsDir = "/usr/local/lib/meteor-do";

/** App hosts: releases, the live symlinks and the uploaded bundles. */
export const appRoot = "/srv/meteor";
export const appPaths = {
    root: appRoot,
    releases: `${appRoot}/releases`,
    /** Where CopyToRemote puts bundles (owned by the deploy user). */
    incoming: `${appRoot}/incoming`,
    current: `${appRoot}/current`,
    previous: `${appRoot}/previous`,
} as const;

/** App hosts: the app's env files (0700 root; the app runs as appUser). */
export const envRoot = "/etc/meteor";
export const envPaths = {
    root: envRoot,
    /** One file per env, named by its sha256. */
    dir: `${envRoot}/env`,
    /** The unit's EnvironmentFile: a symlink to the live env. */
    appEnv: `${envRoot}/app.env`,
    previous: `${envRoot}/previous.env`,
} as const;

/** The app's systemd unit and where app-unit.sh writes its drop-ins. */
export const appUnit = "meteor-app";
export const appUnitDropInDir = `/etc/systemd/system/${appUnit}.service.d`;

/** Node.js: install-node.sh unpacks releases under nodePrefix and links node/npm/npx into nodeBinDir. */
export const nodePrefix = "/opt/node";
export const nodeBinDir = "/usr/local/bin";

/** The managed database's CA certificate on the app hosts (tlsCAFile of the app's Mongo URLs). */
export const mongoCaDir = "/etc/ssl/meteor-do";
export const mongoCaPath = `${mongoCaDir}/mongodb-ca.pem`;

/**
 * Open files per nginx process on the LB: systemd's LimitNOFILE in the sandbox drop-in and nginx's
 * worker_rlimit_nofile (the drop-in's capability set has no CAP_SYS_RESOURCE to raise it past the unit's).
 */
export const lbOpenFiles = 65536;

/** LB host: the program's own directory. */
export const lbRoot = "/etc/meteor-do";
/** Where write-tls.sh puts the certificate, and letsencrypt.sh its `live` link. */
export const tlsDir = `${lbRoot}/tls`;
/** The certificate pair write-tls.sh installs (self-signed or provided). */
export const lbTlsPaths = {
    certificate: `${tlsDir}/fullchain.pem`,
    privateKey: `${tlsDir}/privkey.pem`,
} as const;
/** tlsMode letsencrypt: nginx reads through the `live` link (self-signed pair or certbot's lineage). */
export const lbLiveTlsPaths = {
    certificate: `${tlsDir}/live/fullchain.pem`,
    privateKey: `${tlsDir}/live/privkey.pem`,
} as const;
/** lb-push.sh: releases/<id>/ and current -> releases/<id>. */
export const lbNginxRoot = `${lbRoot}/nginx`;

/** Where lb-push.sh installs the tree on the LB droplet, and Debian's runtime paths. */
export const lbHostPaths = {
    prefix: `${lbNginxRoot}/current`,
    pid: "/run/nginx.pid",
    errorLog: "/var/log/nginx/error.log",
    accessLog: "/var/log/nginx/access.log",
    temp: "/var/lib/nginx",
} as const;
/**
 * lbCount 2 (components/failover.ts): the failover's settings and the API token (0600) on each LB; the
 * role keepalived last gave this LB (active, standby or fault; read by the status page and ops); the file
 * whose presence makes this LB step down (ops failover); WireGuard's port and the tunnel's /30.
 */
export const failoverDir = `${lbRoot}/failover`;
export const lbRunDir = "/run/meteor-do";
export const lbRoleFile = `${lbRunDir}/lb-role`;
export const lbStepDownFile = `${lbRunDir}/lb-step-down`;
export const wireguardPort = 51820;
export const tunnelAddresses = ["169.254.77.1", "169.254.77.2"] as const;
export const tunnelVip = "169.254.77.5";
/** The HTTP-01 webroot nginx serves on port 80. */
export const acmeWebroot = "/var/www/acme";

/** The unit's TimeoutStopSec (app-unit.sh): the app's own grace period plus time to exit. */
export function unitStopTimeoutSeconds(stopGraceSeconds: number): number {
    return stopGraceSeconds + 10;
}

/**
 * App host i's reboot window (HH:MM UTC; reboot-window.sh): 04:00, 04:30, 05:00, ... one host per half hour,
 * a minute later on each wrap past 48 hosts, after the LB's own window (lbRebootWindow).
 */
export function rebootWindow(hostIndex: number): string {
    const minutes = 240 + 30 * ((hostIndex - 1) % 48) + Math.floor((hostIndex - 1) / 48);
    const hh = Math.floor(minutes / 60) % 24;
    return `${String(hh).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
}
/** The LB reboots (unattended-upgrades' Automatic-Reboot) at this time UTC when an update needs it. */
export const lbRebootWindow = "03:00";

/** How long cutover.sh gives `systemctl restart`: the unit's stop timeout plus time to start. */
export function restartTimeoutSeconds(stopGraceSeconds: number): number {
    return unitStopTimeoutSeconds(stopGraceSeconds) + 30;
}
