/**
 * Types shared by the program (components/) and the nginx renderer (nginx/). Pure: no Pulumi, no I/O,
 * so nginx/ can import them without importing components/.
 */

export type TlsMode = "self-signed" | "provided" | "letsencrypt";
export type Stickiness = "ip" | "cookie";
export type HealthCheckType = "http" | "tcp";

export const tlsModes: readonly TlsMode[] = ["self-signed", "provided", "letsencrypt"];
export const stickinessModes: readonly Stickiness[] = ["ip", "cookie"];
export const healthCheckTypes: readonly HealthCheckType[] = ["http", "tcp"];

/** The load balancer's active health check of the app peers (the stack's healthCheck* keys). */
export interface HealthCheck {
    path: string;
    intervalMs: number;
    rise: number;
    fall: number;
    timeoutMs: number;
    type: HealthCheckType;
}
