// MeteorSite used as another program would: args from loadConfig over its own values, checked before
// anything is registered, and its outputs.
import { loadConfig } from "../../components/config";
import { MeteorSite, MeteorSiteArgs } from "../../components/meteorSite";
import { inStack, named, ofType, recorded, tempBundle, useMocks } from "../support/mocks";

jest.setTimeout(60_000);

let fixture: ReturnType<typeof tempBundle>;
beforeAll(() => (fixture = tempBundle("site-")));
afterAll(() => fixture.remove());

function args(values: Record<string, string> = {}, namePrefix = "shop-dev"): MeteorSiteArgs {
    const all: Record<string, string> = { bundle: fixture.bundle, appCount: "1", ...values };
    return { ...loadConfig((key) => all[key], "dev"), namePrefix };
}

test("one component at the top holds every resource; its outputs are the site's", async () => {
    await useMocks();
    const outputs = await inStack(async () => {
        const site = new MeteorSite("shop", args());
        return { url: site.url, ip: site.lbReservedIp, apps: site.appPrivateIps, sha: site.deployedSha256 };
    });
    expect(named("shop").type).toBe("meteor-do:index:MeteorSite");
    const top = recorded.filter((r) => r.parent === undefined && r.type !== "pulumi:pulumi:Stack");
    expect(top.map((r) => r.name)).toEqual(["shop"]);
    expect(named("lb-droplet").inputs.name).toBe("shop-dev-lb");
    expect(
        ofType("digitalocean:index/droplet:Droplet")
            .map((d) => d.name)
            .sort(),
    ).toEqual(["app-1", "lb-droplet"]);
    expect(outputs).toEqual({
        url: "https://198.51.100.10",
        ip: "198.51.100.10",
        apps: [expect.stringMatching(/^10\.116\.0\.\d+$/)],
        sha: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
});

const broken: [string, (a: MeteorSiteArgs) => MeteorSiteArgs, string][] = [
    [
        "a name prefix DigitalOcean would refuse",
        (a) => ({ ...a, namePrefix: "Shop_Dev" }),
        'MeteorSite namePrefix must be lowercase letters, digits and dashes, got "Shop_Dev"',
    ],
    [
        "letsencrypt without a domain",
        (a) => ({ ...a, tls: { ...a.tls, mode: "letsencrypt", letsencryptEmail: "ops@example.com" } }),
        "MeteorSite tls.domain is required with tls.mode letsencrypt or services.manageDns",
    ],
    [
        "letsencrypt without an email",
        (a) => ({ ...a, tls: { ...a.tls, mode: "letsencrypt", domain: "shop.example.com" } }),
        "MeteorSite tls.letsencryptEmail is required with tls.mode letsencrypt",
    ],
];
test.each(broken)("%s fails before anything is registered", async (_label, change, message) => {
    await useMocks();
    expect(() => new MeteorSite("shop", change(args()))).toThrow(message);
    expect(recorded).toEqual([]);
});
