// The LB host rebooted: the site serves again (the time it takes is a figure), nginx is active with the
// same config and Lua as before, and every peer is up.
import { lbRoot } from "../../../lib/layout";
import { rebootHost } from "../engine/hosts";
import { HostRecord } from "../engine/topology";
import { APP_PORT, Step } from "../scenario";

const step: Step = async (s) => {
    const { stack } = s;
    const confHash = (h: HostRecord) =>
        stack
            .sh(h, `find /etc/nginx ${lbRoot} -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum`)
            .stdout.trim();
    const before = confHash(stack.lbHost());
    const t = Date.now();
    await rebootHost(stack.lbHost().name);
    const back = await s.until(
        "the site after the LB reboot",
        60000,
        async () =>
            (await stack.curl(["-k", "-o", "/dev/null", "-w", "%{http_code}", `https://${s.site}/info.json`]))
                .stdout === "200",
    );
    s.figures.lbRebootMs = Date.now() - t;
    s.check(back, `the site serves again after the reboot (${s.figures.lbRebootMs} ms)`);
    s.check(
        stack.sh(stack.lbHost(), "systemctl is-active nginx").stdout.trim() === "active",
        "nginx is active after the reboot",
    );
    s.check(
        confHash(stack.lbHost()) === before && before.length > 0,
        "nginx config and Lua identical after the reboot",
    );
    const allUp = await s.until("all peers up after the reboot", 15000, async () =>
        stack.appHosts().every((h) => stack.lbPeer(`${h.privateIp}:${APP_PORT}`).status === "up"),
    );
    s.check(allUp, "all peers up after the reboot");
};
export default step;
