// Reserved IPs on the emulated public side: which droplet holds one, and moving one between droplets as
// DigitalOcean's assign and unassign actions do (ReservedIpAssignment in resources.ts, the fake API in doApi.ts).
import { CLIENT_NS, HostRecord, ip, loadState, netnsExists, updateState } from "./topology";

/** The droplet whose public link carries `address`, if any. */
export function holderOf(address: string): HostRecord | undefined {
    return Object.values(loadState()?.hosts ?? {}).find((h) => h.extraPublicIps.includes(address));
}

/**
 * Puts `address` on the eth0 of droplet `dropletId` (undefined: on none) and takes it off the one that held
 * it (powered off or not: the link is the hypervisor's). The client side's neighbour entry for it goes too,
 * so the next packet finds the new holder at once, as DigitalOcean's routing moves the address as a whole.
 * Returns the new holder.
 */
export function assignReservedIp(address: string, dropletId: string | undefined): HostRecord | undefined {
    return updateState((state) => {
        const to =
            dropletId === undefined ? undefined : Object.values(state.hosts).find((h) => h.dropletId === dropletId);
        if (dropletId !== undefined && !to) throw new Error(`no droplet ${dropletId}`);
        for (const h of Object.values(state.hosts)) {
            if (h === to || !h.extraPublicIps.includes(address)) continue;
            if (netnsExists(h.netns)) {
                try {
                    ip("-n", h.netns, "addr", "del", `${address}/32`, "dev", "eth0");
                } catch {
                    // not on the link any more (the host was rebooted from its disk meanwhile)
                }
            }
            h.extraPublicIps = h.extraPublicIps.filter((a) => a !== address);
        }
        if (to) {
            ip("-n", to.netns, "addr", "replace", `${address}/32`, "dev", "eth0");
            if (!to.extraPublicIps.includes(address)) to.extraPublicIps.push(address);
        }
        ip("-n", CLIENT_NS, "neigh", "flush", "to", address);
        return to;
    });
}
