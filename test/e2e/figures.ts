// The figures of an e2e run: its last line (`npm run e2e`), key for key; each step fills its own key.
import type { LbResize } from "./failover";

/** The last line of `npm run e2e`, key for key. */
export interface Figures {
    hosts: number;
    commands: { run: number; total: number };
    userDataBooted: number;
    failedRequests: Record<string, number>;
    detectionMs: number | null;
    cutoverMs: Record<string, number>;
    image: { key?: string; cached?: boolean; seconds?: number };
    steps: Record<string, "pass" | "fail">;
    wallSeconds: number;
    programOverlay?: string;
    prepareSeconds?: number;
    commandsPerUp?: Record<string, string>;
    upSeconds?: Record<string, number>;
    requests?: Record<string, number>;
    lbRebootMs?: number;
    /** `npm run ops` against the topology (steps/07-ops.ts). */
    ops?: { keyUpCommands: string; statusMs: number; logsMs: number; logsLines: number; execMs: number };
    /** `npm run ops -- rollback` under load and the ups that follow it (steps/08-rollback.ts). */
    rollback?: {
        seconds: number;
        secondsPerHost: Record<string, number>;
        requests: number;
        failedRequests: number;
        uploadedBytes: number;
        confirmUpCommands: string;
        secondUpCommands: string;
    };
    /** appCount +1 under load: from the `up`'s start to the new host serving (steps/09-scale-up.ts). */
    scaleUp?: {
        capacitySeconds: number;
        upSeconds: number;
        requests: number;
        failedRequests: number;
        retriedRequests: number;
    };
    /** 4 -> 3 by removeHosts under load, DDP clients on the leaving host (steps/10-scale-down.ts). */
    scaleDown?: {
        upSeconds: number;
        retireSeconds: number;
        requests: number;
        failedRequests: number;
        retriedRequests: number;
        ddpOnLeavingHost: number;
        ddpResubscribedElsewhere: number;
        leavingPeerAtStop: string;
    };
    /** TCP probes of the emulated Cloud Firewalls, per source and port (steps/12-firewall.ts). */
    firewall?: Record<string, Record<string, string> | string>;
    /** appSize changed under load (steps/11-resize.ts). */
    resize?: {
        upSeconds: number;
        offSecondsPerHost: Record<string, number>;
        maxHostsOffAtOnce: number;
        requests: number;
        failedRequests: number;
        retriedRequests: number;
    };
    /** Two LBs: the active one powered off, its nginx stopped, `ops failover` (steps/15-lb-failover.ts). */
    lbFailover?: {
        powerOffMs: number | null;
        nginxStopMs: number | null;
        targetMs: number;
        failedRequests: number;
        requests: number;
        windowMs: number | null;
        lastFailureMs: number | null;
        sameHost: boolean;
        movedBack: boolean;
        opsFailedRequests: number | null;
    };
    lbResize?: LbResize;
    /** lynis's hardening index inside the LB and an app host (steps/14-lynis.ts). */
    lynis?: { lb: number; app: number };
    ok?: boolean;
    problems?: string[];
}
