import * as pulumi from "@pulumi/pulumi";
import { HealthCheck, HealthCheckType, healthCheckTypes, Stickiness, stickinessModes } from "../../lib/types";
import { intRule, rules } from "../../lib/validate";
import { sizeSlug } from "./app";
import { matches, Reader } from "./reader";

/** How a standby LB takes the reserved IP over (lbCount 2): the API it calls and the token it calls it with. */
export interface LbFailover {
    /** Secret: only ever on stdin of the Command that writes it to a root-only file on each LB. */
    apiToken: pulumi.Output<string>;
    /** http(s)://host[:port], no path, no trailing slash. */
    apiUrl: string;
}

/** The load-balancer droplet(s) and how they balance and check the app peers. */
export interface LbSettings {
    size: string;
    /** 1: one LB (the reserved IP assigned by the program); 2: an active and a standby (keepalived). */
    count: 1 | 2;
    /** Set exactly when count is 2. */
    failover?: LbFailover;
    healthCheck: HealthCheck;
    stickiness: Stickiness;
    /** Proxies in front of the LB whose X-Forwarded-For is believed (0: none). */
    trustedProxyCount: number;
    /** CIDRs of the proxies in front of the LB: only they may set the client address (required with a count). */
    trustedProxyCidrs: string[];
    /** Per client address on 80/443: open connections and new requests per second (0: no limit). */
    limits: { connectionsPerIp: number; requestsPerSecondPerIp: number };
}

export function readLb(r: Reader): LbSettings {
    const size = r.checked("lbSize", matches(sizeSlug, "must be a DigitalOcean size slug such as s-1vcpu-1gb"));
    const healthCheck: HealthCheck = {
        path: r.checked("healthCheckPath", rules.healthCheckPath),
        type: r.oneOf<HealthCheckType>("healthCheckType", healthCheckTypes),
        intervalMs: r.int("healthCheckIntervalMs", rules.healthCheckIntervalMs),
        timeoutMs: r.int("healthCheckTimeoutMs", rules.healthCheckTimeoutMs),
        rise: r.int("healthCheckRise", rules.healthCheckRise),
        fall: r.int("healthCheckFall", rules.healthCheckFall),
    };
    const stickiness = r.oneOf("stickiness", stickinessModes);
    const trustedProxyCount = r.int("trustedProxyCount", rules.trustedProxyCount);
    const trustedProxyCidrs = r.list("trustedProxyCidrs", rules.narrowCidr);
    if (trustedProxyCount >= 1 && trustedProxyCidrs.length === 0) {
        // Without the proxies' addresses, a client that bypasses them would choose its own address.
        r.problem(
            `${r.key("trustedProxyCidrs")} is required when ${r.key("trustedProxyCount")} is 1 or more (the CIDRs of the proxies in front of the load balancer: only they may set X-Forwarded-For)`,
        );
    }
    if (trustedProxyCount === 0 && trustedProxyCidrs.length > 0) {
        r.problem(
            `${r.key("trustedProxyCidrs")} is set but ${r.key("trustedProxyCount")} is 0: set trustedProxyCount to the number of proxies in front of the load balancer`,
        );
    }
    const limits = {
        connectionsPerIp: r.int("connectionsPerIp", rules.connectionsPerIp),
        requestsPerSecondPerIp: r.int("requestsPerSecondPerIp", rules.requestsPerSecondPerIp),
    };
    const { count, failover } = readFailover(r);
    return { size, count, failover, healthCheck, stickiness, trustedProxyCount, trustedProxyCidrs, limits };
}

const lbCountRule = intRule(
    1,
    2,
    "must be 1 (one load balancer) or 2 (an active and a standby that takes the reserved IP over)",
);

function readFailover(r: Reader): { count: 1 | 2; failover?: LbFailover } {
    const count = r.int("lbCount", lbCountRule) === 2 ? 2 : 1;
    const apiUrl = r
        .checked(
            "digitaloceanApiUrl",
            matches(
                /^https?:\/\/[A-Za-z0-9.-]+(:[0-9]{1,5})?\/?$/,
                "must be an http(s) URL without a path, e.g. https://api.digitalocean.com",
            ),
        )
        .replace(/\/+$/, "");
    const apiToken = r.secret("failoverApiToken");
    if (count === 1) return { count };
    if (!apiToken) {
        r.problem(
            `${r.key("failoverApiToken")} is required when ${r.key("lbCount")} is 2 (a DigitalOcean token with reserved_ip read and update: pulumi config set --secret failoverApiToken <token>)`,
        );
        return { count };
    }
    return { count, failover: { apiToken, apiUrl } };
}
