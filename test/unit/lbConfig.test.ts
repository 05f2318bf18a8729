import * as pulumi from "@pulumi/pulumi";
import { filesHash } from "../../components/hash";
import { LbConfig, LbConfigArgs } from "../../components/lbConfig";
import { renderNginx } from "../../nginx/render";
import { productionView } from "../../nginx/views";
import { Inputs } from "../support/mocks";
import { untarGzBase64 } from "../support/untar";

const healthCheck = { path: "/healthz", intervalMs: 750, rise: 2, fall: 2, timeoutMs: 1000, type: "http" as const };
const limits = { connectionsPerIp: 1000, requestsPerSecondPerIp: 100 };
const connection = {
    host: "198.51.100.10",
    user: "deploy",
    privateKey: pulumi.secret("KEY"),
    dialErrorLimit: 30,
    perDialTimeout: 10,
};

function args(over: Partial<LbConfigArgs> = {}): LbConfigArgs {
    return {
        connection,
        peers: [pulumi.output("10.116.0.5"), "10.116.0.6"],
        appPort: 3000,
        lbPrivateIp: pulumi.output("10.116.0.2"),
        vpcCidr: pulumi.output("10.116.0.0/20"),
        serverName: "app.example.com",
        healthCheck,
        stickiness: "ip",
        trustedProxyCount: 0,
        adminCidrs: ["192.0.2.0/24"],
        hstsMaxAge: 0,
        limits,
        tls: {
            certificate: "/etc/meteor-do/tls/fullchain.pem",
            privateKey: "/etc/meteor-do/tls/privkey.pem",
            selfSigned: true,
        },
        dependsOn: [],
        ...over,
    };
}

// Own small mocks: this suite builds LbConfig alone, outside a stack (the shared mocks need the program's root stack).
interface Recorded {
    type: string;
    name: string;
    inputs: Inputs;
    parent?: string;
    dependsOn: string[];
}
const recorded: Recorded[] = [];
const opts = new Map<string, { parent?: string; dependsOn: string[] }>();
// The SDK keeps a resource's name in __name (internal, not in its typings).
const nameOf = (r: pulumi.Resource | undefined) => (r as { __name?: string } | undefined)?.__name;

beforeEach(async () => {
    recorded.length = 0;
    opts.clear();
    await pulumi.runtime.setMocks(
        {
            newResource(a) {
                const o = opts.get(a.name) ?? { dependsOn: [] };
                recorded.push({ type: a.type, name: a.name, inputs: a.inputs as Inputs, ...o });
                return { id: `${a.name}-id`, state: a.inputs };
            },
            call(a) {
                throw new Error(`unexpected provider call ${a.token}`);
            },
        },
        "meteor-do",
        "test",
        false,
    );
});

/** Children's parent and dependsOn, seen through the component's transformations. */
const capture: pulumi.ResourceTransformation = (a) => {
    const d = a.opts.dependsOn;
    const list = (Array.isArray(d) ? d : d ? [d] : []) as pulumi.Resource[];
    opts.set(a.name, { parent: nameOf(a.opts.parent), dependsOn: list.map((r) => nameOf(r) ?? "?") });
    return undefined;
};

const promiseOf = <T>(o: pulumi.Output<T>): Promise<T> => new Promise((resolve) => o.apply(resolve));
async function settle(): Promise<void> {
    let last = -1;
    for (let stable = 0, i = 0; stable < 10 && i < 400; i++) {
        await new Promise((r) => setTimeout(r, 5));
        stable = recorded.length === last ? stable + 1 : 0;
        last = recorded.length;
    }
}
const named = (name: string): Recorded => {
    const found = recorded.filter((r) => r.name === name);
    if (found.length !== 1) throw new Error(`expected one ${name}, found ${found.length}`);
    return found[0];
};

async function pushOf(a: LbConfigArgs, name = "lb-config") {
    const lb = new LbConfig(name, a, { transformations: [capture] });
    await settle();
    return { lb, push: named(`${name}-push`), hash: await promiseOf(lb.filesHash) };
}

test("one Command runs lb-push.sh with the rendered tree on stdin and the files' hash as trigger", async () => {
    class Tools extends pulumi.CustomResource {
        constructor(name: string) {
            super("test:index:Tools", name, {});
        }
    }
    const tools = new Tools("tools");
    const { push } = await pushOf(args({ dependsOn: [tools] }));
    const expected = renderNginx(
        productionView({
            peers: ["10.116.0.5", "10.116.0.6"],
            appPort: 3000,
            lbPrivateIp: "10.116.0.2",
            vpcCidr: "10.116.0.0/20",
            serverName: "app.example.com",
            healthCheck,
            stickiness: "ip",
            trustedProxyCount: 0,
            adminCidrs: ["192.0.2.0/24"],
            hstsMaxAge: 0,
            limits,
            tls: args().tls,
        }),
    );

    expect(recorded.map((r) => [r.type, r.name]).sort()).toEqual([
        ["command:remote:Command", "lb-config-push"],
        ["meteor-do:lb:LbConfig", "lb-config"],
        ["test:index:Tools", "tools"],
    ]);
    expect(push.parent).toBe("lb-config");
    expect(push.dependsOn).toEqual(["tools"]);
    expect(Object.keys(push.inputs).sort()).toEqual([
        "addPreviousOutputInEnv",
        "connection",
        "create",
        "stdin",
        "triggers",
    ]);
    expect(push.inputs.create).toBe("sudo /usr/local/lib/meteor-do/lb-push.sh");
    expect(push.inputs.addPreviousOutputInEnv).toBe(false);
    // The connection holds the private key: it stays a secret (the engine's secret envelope).
    expect(push.inputs.connection).toEqual({
        "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
        value: {
            host: "198.51.100.10",
            port: 22,
            user: "deploy",
            privateKey: "KEY",
            dialErrorLimit: 30,
            perDialTimeout: 10,
        },
    });
    expect(push.inputs.triggers).toEqual([`nginx=${filesHash(expected)}`]);
    expect(await untarGzBase64(push.inputs.stdin)).toEqual(expected);
});

test("the production view: Debian paths, ports 80/443/8181, status for loopback + VPC + adminCidrs", () => {
    const v = productionView({
        peers: ["10.116.0.5"],
        appPort: 3000,
        lbPrivateIp: "10.116.0.2",
        vpcCidr: "10.116.0.0/20",
        serverName: "203.0.113.7",
        healthCheck,
        stickiness: "cookie",
        trustedProxyCount: 1,
        realIpFrom: ["198.51.100.0/24"],
        adminCidrs: ["192.0.2.0/24"],
        hstsMaxAge: 0,
        limits,
        tls: args().tls,
    });
    expect(v).toEqual({
        peers: [{ ip: "10.116.0.5", port: 3000 }],
        healthCheck: { ...healthCheck, host: "203.0.113.7" },
        stickiness: "cookie",
        trustedProxyCount: 1,
        realIpFrom: ["198.51.100.0/24"],
        hstsMaxAge: 0,
        limits,
        serverName: "203.0.113.7",
        tls: args().tls,
        statusAllow: ["127.0.0.0/8", "::1", "10.116.0.0/20", "192.0.2.0/24"],
        adminSelf: ["10.116.0.2"],
        // The admin API inside only: loopback (where lb-push.sh asks) and the private address.
        listen: { http: 80, https: 443, admin: 8181, adminAddresses: ["127.0.0.1", "10.116.0.2"] },
        paths: {
            prefix: "/etc/meteor-do/nginx/current",
            pid: "/run/nginx.pid",
            errorLog: "/var/log/nginx/error.log",
            accessLog: "/var/log/nginx/access.log",
            temp: "/var/lib/nginx",
        },
        acmeWebroot: "/var/www/acme",
        user: "www-data",
        workerProcesses: "auto",
        workerRlimitNofile: 65536,
    });
    const files = renderNginx(v);
    expect(files["nginx.conf"]).toContain("user www-data;");
    expect(files["listen/https.conf"]).toContain("listen 0.0.0.0:443 ssl http2;");
    expect(files["listen/admin.conf"].match(/^listen .*$/gm)).toEqual([
        "listen 127.0.0.1:8181;",
        "listen 10.116.0.2:8181;",
    ]);
    expect(files["sites/http.conf"]).toContain("return 301 https://$host$request_uri;");
    expect(files["main/modules.conf"].indexOf("ndk_http_module.so")).toBeLessThan(
        files["main/modules.conf"].indexOf("ngx_http_lua_module.so"),
    );
    expect(files.PREFIX).toBe("/etc/meteor-do/nginx/current\n");
});

test("the trigger changes when and only when a rendered file changes", async () => {
    const base = (await pushOf(args(), "a")).hash;
    // Same values through other Inputs: same files, same trigger.
    expect(
        (await pushOf(args({ peers: pulumi.output(["10.116.0.5", "10.116.0.6"]), lbPrivateIp: "10.116.0.2" }), "b"))
            .hash,
    ).toBe(base);
    // dependsOn and the connection are not in the files.
    expect((await pushOf(args({ connection: { ...connection, host: "198.51.100.99" } }), "c")).hash).toBe(base);
    const changed = [
        args({ peers: ["10.116.0.6", "10.116.0.5"] }),
        args({ appPort: 3001 }),
        args({ healthCheck: { ...healthCheck, intervalMs: 1000 } }),
        args({ stickiness: "cookie" }),
        args({ adminCidrs: [] }),
        args({ serverName: "other.example.com" }),
        args({ tls: { ...args().tls, selfSigned: false } }),
        args({ trustedProxyCount: 1, realIpFrom: ["198.51.100.0/24"] }),
        args({ hstsMaxAge: 31536000 }),
        args({ limits: { ...limits, requestsPerSecondPerIp: 50 } }),
        args({ peerNames: ["stack-app-1", pulumi.output("stack-app-2")] }),
    ];
    const hashes = new Set<string>([base]);
    for (const [i, a] of changed.entries()) hashes.add((await pushOf(a, `d${i}`)).hash);
    expect(hashes.size).toBe(changed.length + 1);
});

test("peerNames: the droplets' names reach the Lua config beside their addresses, for the status page", async () => {
    const { push } = await pushOf(args({ peerNames: [pulumi.output("prod-app-1"), "prod-app-2"] }), "n");
    const lua = (await untarGzBase64(push.inputs.stdin as string))["lua/meteor_do/config.lua"];
    expect(lua).toContain('{ ip = "10.116.0.5", port = 3000, host = "prod-app-1" },');
    expect(lua).toContain('{ ip = "10.116.0.6", port = 3000, host = "prod-app-2" },');
    // Without names the field is empty (the page shows the address).
    const plain = await untarGzBase64((await pushOf(args(), "m")).push.inputs.stdin as string);
    expect(plain["lua/meteor_do/config.lua"]).toContain('{ ip = "10.116.0.5", port = 3000, host = "" },');
    const site = {
        peers: ["10.116.0.5"],
        appPort: 3000,
        lbPrivateIp: "10.116.0.2",
        vpcCidr: "10.116.0.0/20",
        serverName: "a.example",
        healthCheck,
        stickiness: "ip" as const,
        trustedProxyCount: 0,
        adminCidrs: [],
        hstsMaxAge: 0,
        limits,
        tls: args().tls,
    };
    expect(() => productionView({ ...site, peerNames: ["a", "b"] })).toThrow("peerNames has 2 names for 1 peers");
    expect(() => renderNginx(productionView({ ...site, peerNames: ['a"b'] }))).toThrow(
        'peer host is "a\\"b": must be a droplet name (letters, digits, . _ -)',
    );
});

test("with hostId (the droplet id) the trigger also moves when the droplet is replaced", async () => {
    const a = await pushOf(args({ hostId: pulumi.output("1001") }), "h1");
    const b = await pushOf(args({ hostId: "1002" }), "h2");
    expect(a.push.inputs.triggers).toEqual(["droplet=1001", `nginx=${a.hash}`]);
    expect(b.push.inputs.triggers).toEqual(["droplet=1002", `nginx=${a.hash}`]);
});

test("argument errors are plain and early", () => {
    expect(() => new LbConfig("x", args({ appPort: 0 }))).toThrow(
        "appPort is 0: must be an unprivileged port from 1024 to 65535",
    );
    expect(() => new LbConfig("y", args({ trustedProxyCount: 1 }))).toThrow("trustedProxyCount > 0 needs realIpFrom");
    expect(() => new LbConfig("z", args({ adminCidrs: ["0.0.0.0/0"] }))).toThrow(
        'adminCidrs entry is "0.0.0.0/0": each entry must be a CIDR',
    );
    expect(() =>
        renderNginx({
            ...productionView({
                peers: ["10.116.0.5", "10.116.0.5"],
                appPort: 3000,
                lbPrivateIp: "10.116.0.2",
                vpcCidr: "10.116.0.0/20",
                serverName: "a.example",
                healthCheck,
                stickiness: "ip",
                trustedProxyCount: 0,
                adminCidrs: [],
                hstsMaxAge: 0,
                limits,
                tls: args().tls,
            }),
        }),
    ).toThrow("peer 10.116.0.5:3000 is listed twice");
});
