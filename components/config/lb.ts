import { HealthCheck, HealthCheckType, healthCheckTypes, Stickiness, stickinessModes } from "../../lib/types";
import { rules } from "../../lib/validate";
import { sizeSlug } from "./app";
import { matches, Reader } from "./reader";

/** The load-balancer droplet and how it balances and checks the app peers. */
export interface LbSettings {
    size: string;
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
    return { size, healthCheck, stickiness, trustedProxyCount, trustedProxyCidrs, limits };
}
