// HAProxy 2.6 at its best for fast failure handling, shared by bench:lb and bench:ws (its configuration
// manual, sections 4 and 5.2):
// - `observe layer4 error-limit 1 on-error mark-down`: one failed connection to a server marks it down
//   at once (and forces `fastinter`), instead of waiting for `fall` failed checks;
// - `retries 2` + `option redispatch 1`: every retry goes to another server, skipping the turn-around
//   timer (min(timeout connect, 1 s)) that a retry on the same server waits;
// - `retry-on conn-failure empty-response response-timeout`: a request whose connection was refused, or
//   reset before any response (a pooled connection to a killed server), is replayed elsewhere;
// - `fastinter 250`: a server in transition (going down or coming back) is checked every 250 ms;
// - `http-reuse always` + backend keep-alive: requests reuse idle server connections.

import type { LbHealthCheck } from "../nginx/render";

/** The active checks of both balancers in a bench, so that neither checks more often than the other. */
export const BENCH_CHECK = { intervalMs: 750, rise: 2, fall: 2, timeoutMs: 1000 } as const;

/** Our LB's health check in a bench: BENCH_CHECK on `path`. */
export const benchHealthCheck = (path: string): LbHealthCheck => ({
    path,
    ...BENCH_CHECK,
    type: "http",
    host: "lb.test",
});

/** Lines of the `defaults` section. */
export const HAPROXY_BEST_DEFAULTS = `    retries 2
    option redispatch 1
    retry-on conn-failure empty-response response-timeout`;

/** Lines of the `backend` section, after its `option httpchk`. */
export const HAPROXY_BEST_BACKEND = `    http-reuse always
    default-server check inter ${BENCH_CHECK.intervalMs} fastinter 250 rise ${BENCH_CHECK.rise} fall ${BENCH_CHECK.fall} observe layer4 error-limit 1 on-error mark-down`;
