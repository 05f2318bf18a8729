import { isPrivateRange, rules } from "../../lib/validate";
import { Reader } from "./reader";

/** Where the droplets run and who may reach them. */
export interface PlacementConfig {
    region: string;
    /** The VPC's range; unset: DigitalOcean picks one. */
    vpcIpRange?: string;
    /** Who may SSH to the LB and read /check-status besides the VPC. */
    adminCidrs: string[];
    backups: boolean;
    monitoring: boolean;
}

/** DigitalOcean regions that offer droplets, VPCs and reserved IPs. */
export const regions = [
    "ams3",
    "atl1",
    "blr1",
    "fra1",
    "lon1",
    "nyc1",
    "nyc2",
    "nyc3",
    "sfo2",
    "sfo3",
    "sgp1",
    "syd1",
    "tor1",
];

export function readPlacement(r: Reader): PlacementConfig {
    return {
        region: r.oneOf("region", regions),
        vpcIpRange: r.optional("vpcIpRange", {
            ok: isPrivateRange,
            allowed:
                "must be an RFC 1918 IPv4 range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) with a prefix from /16 to /24, e.g. 10.10.0.0/20",
        }),
        adminCidrs: r.list("adminCidrs", rules.narrowCidr),
        backups: r.bool("backups"),
        monitoring: r.bool("monitoring"),
    };
}
