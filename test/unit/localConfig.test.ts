// The local stack's config (scripts/local-config.ts): a stack file read as the engine passes it, and the few
// keys the local topology decides.
import * as fs from "fs";
import * as path from "path";
import { localConfig } from "../../scripts/local-config";
import { removeTempDirs, tempDir } from "../support/files";

const topology = {
    nodeDistUrl: "http://10.30.0.254:8080",
    nodeVersion: "20.20.2",
    clientAddress: "203.0.113.1",
    vpcIpRange: "10.30.0.0/24",
};
const root = path.resolve(__dirname, "../..");

function stackFile(text: string): string {
    const file = path.join(tempDir("local-config"), "Pulumi.local.yaml");
    fs.writeFileSync(file, text);
    return file;
}
afterAll(removeTempDirs);

test("values as the engine passes them: text as is, structured values as JSON; secret keys marked", () => {
    const file = stackFile(`config:
  meteor-do:appCount: "1"
  meteor-do:appEnv: { GREETING: hi }
  meteor-do:mongoUrl: mongodb://u:p@db/app
  digitalocean:token: x
`);
    const c = localConfig(file, topology);
    expect(c.config).toMatchObject({ appCount: "1", appEnv: '{"GREETING":"hi"}', mongoUrl: "mongodb://u:p@db/app" });
    expect(c.config).not.toHaveProperty("token");
    expect(c.secretKeys).toEqual(["mongoUrl"]);
    expect(c.notes).toEqual(["digitalocean:token ignored (the local stack has no provider config)"]);
    expect(c.source).toBe(file);
});

test("the topology's mirror and Node.js win, its address joins adminCidrs, its VPC range is the default", () => {
    const file = stackFile(`config:
  meteor-do:nodeVersion: 14.21.4
  meteor-do:adminCidrs: ["198.51.100.0/24"]
  meteor-do:vpcIpRange: 10.40.0.0/24
`);
    const c = localConfig(file, topology);
    expect(c.config).toMatchObject({
        nodeVersion: "20.20.2",
        nodeDistUrl: "http://10.30.0.254:8080",
        adminCidrs: '["198.51.100.0/24","203.0.113.1/32"]',
        vpcIpRange: "10.40.0.0/24",
    });
    expect(c.notes).toEqual(["nodeVersion 14.21.4 replaced by 20.20.2: the local mirror serves this machine's"]);
    expect(localConfig(undefined, topology).config).toMatchObject({
        vpcIpRange: "10.30.0.0/24",
        adminCidrs: '["203.0.113.1/32"]',
    });
});

test("no file: Pulumi.yaml's defaults, the sample bundle; another bundle is the configured one", () => {
    const none = localConfig(undefined, topology);
    expect(none.source).toBeUndefined();
    expect(none.bundle).toEqual({ file: path.join(root, "sample-app/dist/sample-bundle.tgz"), isSample: true });
    const own = localConfig(stackFile("config:\n  meteor-do:bundle: /srv/app.tar.gz\n"), topology);
    expect(own.bundle).toEqual({ file: "/srv/app.tar.gz", isSample: false });
});

test("refused with the key named: encrypted values, letsencrypt, a file that is not a stack file", () => {
    expect(() => localConfig(stackFile("config:\n  meteor-do:mongoUrl:\n    secure: AAAB\n"), topology)).toThrow(
        /meteor-do:mongoUrl is encrypted \(secure:\), which only the Pulumi CLI can read/,
    );
    expect(() => localConfig(stackFile("config:\n  meteor-do:tlsMode: letsencrypt\n"), topology)).toThrow(
        /meteor-do:tlsMode letsencrypt needs a public domain/,
    );
    expect(() => localConfig(stackFile("config: [1, 2]\n"), topology)).toThrow(/"config" must be a map/);
    expect(() => localConfig(stackFile("config: {a: [\n"), topology)).toThrow(/^--config .*Pulumi.local.yaml: /);
});

test("lbCount 2: the LBs get the topology's DigitalOcean API and its token (a secret), replacing the file's", () => {
    const doApi = { url: "http://203.0.113.2", token: "local-token-1234" };
    const file = stackFile(`config:
  meteor-do:lbCount: 2
  meteor-do:failoverApiToken: dop_v1_real
  meteor-do:digitaloceanApiUrl: https://api.digitalocean.com
`);
    const c = localConfig(file, { ...topology, doApi });
    expect(c.config).toMatchObject({ lbCount: "2", failoverApiToken: doApi.token, digitaloceanApiUrl: doApi.url });
    expect(c.secretKeys).toContain("failoverApiToken");
    expect(c.notes).toEqual([
        "failoverApiToken replaced by the local DigitalOcean API's token",
        "digitaloceanApiUrl replaced by the local DigitalOcean API http://203.0.113.2",
    ]);
    expect(JSON.stringify(c.notes)).not.toContain("dop_v1_real");
    // One LB: nothing of the failover is set.
    expect(localConfig(undefined, { ...topology, doApi }).config).not.toHaveProperty("failoverApiToken");
    expect(() => localConfig(file, topology)).toThrow(
        "meteor-do:lbCount 2 needs the local topology's DigitalOcean API",
    );
});
