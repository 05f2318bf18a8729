// The Cloud Firewalls as the program declares them (emulated in engine/firewall.ts), probed with TCP
// connects: from the public side only 80/443 of the LB answer (SSH too, but only from adminCidrs); app
// hosts answer SSH and the app port only from the LB; the LB's admin port only from app hosts.
import { lbAdminPort } from "../../../lib/layout";
import { applyFirewalls, PortState, probe } from "../engine/firewall";
import { ip } from "../engine/topology";
import * as topo from "../engine/topology";
import { APP_PORT, Step } from "../scenario";

/** A client address outside adminCidrs (TEST-NET-1), on the public side. */
const STRANGER = "192.0.2.10";

const step: Step = async (s) => {
    const lb = s.stack.lbHost();
    const [app1, app2] = s.stack.appHosts();
    const lbIp = String(s.outputs?.lbReservedIp);
    const ports = [22, 80, 443, lbAdminPort, APP_PORT];
    const table = (states: PortState[], keys: (string | number)[]) =>
        Object.fromEntries(keys.map((k, i) => [String(k), states[i]]));

    // A Cloud Firewall sits outside the droplet, so nothing on the host (a `flush ruleset` of its own
    // nftables.service) can remove it; the emulation lives in the droplet's namespace, so it is put back first.
    applyFirewalls(s.stack.engineState());
    ip("-n", topo.CLIENT_NS, "addr", "add", `${STRANGER}/32`, "dev", "pub0");
    let fromStranger: PortState[];
    try {
        fromStranger = await probe(topo.CLIENT_NS, [
            ...ports.map((port) => ({ host: lbIp, port, localAddress: STRANGER })),
            ...[22, APP_PORT].map((port) => ({ host: app1.publicIp, port, localAddress: STRANGER })),
        ]);
    } finally {
        ip("-n", topo.CLIENT_NS, "addr", "del", `${STRANGER}/32`, "dev", "pub0");
    }
    // The engine's own address is in adminCidrs: SSH to the LB (how every Command gets in).
    const [adminSsh, adminToApp] = await probe(topo.CLIENT_NS, [
        { host: lbIp, port: 22 },
        { host: app1.publicIp, port: 22 },
    ]);
    const fromLb = await probe(lb.netns, [
        { host: app1.privateIp, port: 22 },
        { host: app1.privateIp, port: APP_PORT },
    ]);
    const fromApp = await probe(app1.netns, [
        { host: lb.privateIp, port: lbAdminPort },
        { host: lb.privateIp, port: 22 },
        { host: app2.privateIp, port: 22 },
        { host: app2.privateIp, port: APP_PORT },
    ]);

    const publicLb = table(fromStranger.slice(0, ports.length), ports);
    const publicApp = table(fromStranger.slice(ports.length), [22, APP_PORT]);
    s.figures.firewall = {
        publicToLb: publicLb,
        publicToApp: publicApp,
        adminToLbSsh: adminSsh,
        adminToAppSsh: adminToApp,
        lbToApp: table(fromLb, [22, APP_PORT]),
        appToLb: table(fromApp.slice(0, 2), [lbAdminPort, 22]),
        appToApp: table(fromApp.slice(2), [22, APP_PORT]),
    };
    const only = (t: Record<string, PortState>, open: string[]) =>
        Object.entries(t).every(([p, st]) => (open.includes(p) ? st === "open" : st !== "open"));
    s.check(
        only(publicLb, ["80", "443"]),
        `from the public side only 80/443 of the LB answer: ${JSON.stringify(publicLb)}`,
    );
    s.check(only(publicApp, []), `app hosts answer nothing on the public side: ${JSON.stringify(publicApp)}`);
    s.check(
        adminSsh === "open" && adminToApp !== "open",
        `SSH to the LB from adminCidrs only (app hosts: ${adminToApp})`,
    );
    s.check(
        fromLb.every((st) => st === "open"),
        `the LB reaches app hosts' SSH and app port: ${fromLb.join(", ")}`,
    );
    s.check(
        fromApp[0] === "open" && fromApp[1] !== "open",
        `app hosts reach the LB's admin port, not its SSH: ${fromApp.slice(0, 2).join(", ")}`,
    );
    s.check(
        fromApp.slice(2).every((st) => st !== "open"),
        `app hosts do not reach each other: ${fromApp.slice(2).join(", ")}`,
    );
};

export default step;
