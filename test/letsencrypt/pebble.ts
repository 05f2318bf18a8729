// Debian's pebble (an RFC 8555 test ACME server) and pebble-challtestsrv (its mock DNS, answering every
// A query with 127.0.0.1) on loopback, for the Let's Encrypt suite. Processes are stopped by PID.
import { ChildProcess, spawn } from "child_process";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { caSignedCert } from "../support/certs";
import { freePort } from "../support/ports";
import { waitFor } from "../support/wait";

export interface Pebble {
    /** ACME directory URL certbot uses (--server). */
    directory: string;
    /** CA bundle that trusts pebble's own HTTPS listener (REQUESTS_CA_BUNDLE for certbot). */
    apiCaBundle: string;
    /** PEM of the root that signs the certificates pebble issues (changes every start). */
    issuingRoot(): Promise<string>;
    procs: ChildProcess[];
}

/** Starts challtestsrv (DNS) and pebble; `httpPort` is where pebble sends HTTP-01 validations. */
export async function startPebble(dir: string, httpPort: number): Promise<Pebble> {
    const [acmePort, mgmtPort, dnsPort, dnsMgmtPort] = [
        await freePort(),
        await freePort(),
        await freePort(),
        await freePort(),
    ];
    // pebble's listener needs a certificate: a throwaway CA (certbot trusts it) and a leaf for 127.0.0.1.
    const api = caSignedCert(path.join(dir, "pebble-api"), "meteor-do test ACME API CA");

    const config = path.join(dir, "pebble.json");
    fs.writeFileSync(
        config,
        JSON.stringify({
            pebble: {
                listenAddress: `127.0.0.1:${acmePort}`,
                managementListenAddress: `127.0.0.1:${mgmtPort}`,
                certificate: api.certificate,
                privateKey: api.privateKey,
                httpPort,
                tlsPort: await freePort(),
                ocspResponderURL: "",
                externalAccountBindingRequired: false,
            },
        }),
    );

    const procs: ChildProcess[] = [];
    const dns = spawn(
        "pebble-challtestsrv",
        [
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
            "-dns01",
            `127.0.0.1:${dnsPort}`,
            "-http01",
            "",
            "-https01",
            "",
            "-tlsalpn01",
            "",
            "-management",
            `127.0.0.1:${dnsMgmtPort}`,
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
    );
    procs.push(dns);
    // No random validation sleeps, no deliberately rejected nonces: the suite is about our flow, not retries.
    const pebble = spawn("pebble", ["-config", config, "-dnsserver", `127.0.0.1:${dnsPort}`], {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
    });
    procs.push(pebble);
    const apiCa = fs.readFileSync(api.ca);
    const get = (url: string) =>
        new Promise<{ status: number; body: string }>((resolve, reject) => {
            https
                .get(url, { ca: apiCa, agent: false, timeout: 3000 }, (res) => {
                    let body = "";
                    res.on("data", (c) => (body += c));
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
                })
                .on("error", reject);
        });
    const directory = `https://127.0.0.1:${acmePort}/dir`;
    await waitFor(
        "pebble's directory",
        async () => {
            if (pebble.exitCode !== null) throw new Error(`pebble exited with ${pebble.exitCode}`);
            return (await get(directory)).status === 200;
        },
        15000,
        100,
    );
    return {
        directory,
        apiCaBundle: api.ca,
        issuingRoot: async () => (await get(`https://127.0.0.1:${mgmtPort}/roots/0`)).body,
        procs,
    };
}
