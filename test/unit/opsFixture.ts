// The `ops` output of a two-host stack, as `pulumi stack output --json` prints it (A is its release).
const A = "a".repeat(64);

export const outputs = {
    siteUrl: "https://203.0.113.250",
    ops: {
        lb: {
            name: "lb",
            droplet: "mdo-staging-lb",
            dropletId: "401",
            publicIp: "203.0.113.250",
            privateIp: "10.10.0.2",
        },
        hosts: [
            { name: "app-1", droplet: "mdo-staging-app-1", dropletId: "402", privateIp: "10.10.0.3" },
            { name: "app-2", droplet: "mdo-staging-app-2", dropletId: "403", privateIp: "10.10.0.4" },
        ],
        user: "ops",
        appPort: 3000,
        release: A,
        bundle: A,
        cutover: {
            healthCheckPath: "/",
            keepReleases: 3,
            restartTimeoutSeconds: 60,
            healthTimeoutSeconds: 20,
            lbTimeoutSeconds: 20,
        },
    },
};
