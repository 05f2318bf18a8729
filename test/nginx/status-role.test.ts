// lbCount 2: the status page names the LB that answered and the role keepalived last gave it (the file
// lb-role.sh writes), read on every request; with one LB (no failover in the view) json says null and
// the html page have neither (json as before).
import * as fs from "fs";
import * as path from "path";
import { tempDir } from "../support/files";
import { request } from "../support/http";
import { lbPorts } from "../support/ports";
import { loopbackView, startBackend, startLb, StatusPage, stopAll } from "../support/nginx";

jest.setTimeout(60_000);

type WithRole = StatusPage & { lb: { name?: string; role?: string } };

let dir: string;
let roleFile: string;
let status: string;
let single: string;

beforeAll(async () => {
    const backend = await startBackend("127.0.0.71", 19371);
    const peers = [{ ip: backend.ip, port: backend.port, host: "app-1" }];
    dir = tempDir("status-role");
    roleFile = path.join(dir, "run", "lb-role");
    const ports = await lbPorts();
    await startLb(loopbackView(dir, peers, ports, { failover: { name: "shop-prod-lb-1", roleFile } }));
    status = `https://127.0.0.1:${ports.https}/check-status`;
    const one = await lbPorts();
    await startLb(loopbackView(tempDir("status-one"), peers, one));
    single = `https://127.0.0.1:${one.https}/check-status`;
});
afterAll(stopAll);

const json = async (url: string) => (await request<WithRole>({ url: `${url}?format=json` })).json.lb;
const html = async (url: string) => (await request({ url: `${url}?format=html` })).body;

test("json and html name this LB and its role as the role file says, as it changes", async () => {
    expect(await json(status)).toMatchObject({ name: "shop-prod-lb-1", role: "none" });
    fs.mkdirSync(path.dirname(roleFile), { recursive: true });
    for (const role of ["standby", "active", "fault"]) {
        fs.writeFileSync(roleFile, `${role}\n`);
        expect(await json(status)).toMatchObject({ name: "shop-prod-lb-1", role });
        expect(await html(status)).toContain(
            `<dt>Answered by</dt><dd id="lb-role"><b>shop-prod-lb-1</b> &middot; ${role}</dd>`,
        );
    }
    // Anything but one lowercase word is not echoed into the page.
    fs.writeFileSync(roleFile, "<script>x</script>\n");
    expect((await json(status)).role).toBe("unknown");
});

test("one LB: no name, no role", async () => {
    const lb = await json(single);
    expect(["name" in lb, "role" in lb]).toEqual([false, false]);
    expect(await html(single)).not.toContain("Answered by");
});
