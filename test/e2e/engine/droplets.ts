// The emulated DigitalOcean droplet (see mocks.ts's header): boot from its user-data, a resize (power off,
// on again from the same disk), a replacement when an input forces one, destroy.
import { bootDroplet, destroyHost, powerOff, powerOn, waitForInit } from "./hosts";
import type { Applied } from "./resources";
import { Props, Stored } from "./state";

interface DropletInputs {
    name?: string;
    userData?: string;
    sshKeys?: (string | number)[];
    vpcUuid?: string;
}

const FORCES_NEW_DROPLET = ["userData", "image", "region", "sshKeys", "vpcUuid"];
/** How long a resized droplet stays off here (DigitalOcean takes about a minute; the order is what counts). */
const RESIZE_OFF_MS = 2000;

/** Whether these inputs replace the droplet `prev` (DigitalOcean forces a new one) instead of updating it. */
export function dropletReplaced(prev: Stored, inputs: Props): boolean {
    return FORCES_NEW_DROPLET.some((k) => JSON.stringify(prev.inputs[k]) !== JSON.stringify(inputs[k]));
}

/** Creates, updates (a new size: powered off and on) or replaces droplet `name`. */
export async function applyDroplet(
    name: string,
    props: Props,
    publicKeys: Map<string, string>,
    prev?: Stored,
): Promise<Applied> {
    const inputs = props as DropletInputs & Props;
    if (prev && !dropletReplaced(prev, inputs)) {
        // A new size: DigitalOcean powers the droplet off, resizes it and powers it on again.
        if (JSON.stringify(prev.inputs.size) !== JSON.stringify(inputs.size)) {
            const host = String(prev.state.name ?? name);
            await powerOff(host);
            await new Promise((r) => setTimeout(r, RESIZE_OFF_MS));
            await powerOn(host);
        }
        return { id: prev.id, state: { ...prev.state, ...inputs } };
    }
    const keys = (inputs.sshKeys ?? []).map((k) => {
        const pub = publicKeys.get(String(k));
        if (!pub) throw new Error(`Droplet ${name}: unknown SSH key ${k}`);
        return pub;
    });
    const hostname = inputs.name ?? name;
    if (prev) await destroyHost(String(prev.state.name ?? name));
    const host = bootDroplet({ name: hostname, userData: inputs.userData ?? "", authorizedKeys: keys });
    await waitForInit(host);
    return {
        id: host.dropletId,
        replaced: !!prev,
        state: {
            ...inputs,
            name: hostname,
            ipv4Address: host.publicIp,
            ipv4AddressPrivate: host.privateIp,
            status: "active",
            urn: `do:droplet:${host.dropletId}`,
            vpcUuid: inputs.vpcUuid,
            createdAt: new Date().toISOString(),
        },
    };
}

/** A droplet that left the program: powered off and destroyed. */
export async function removeDroplet(name: string, stored: Stored): Promise<void> {
    const host = String(stored.state.name ?? name);
    await powerOff(host);
    await destroyHost(host);
}
