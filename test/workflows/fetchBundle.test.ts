import { spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";

// scripts/fetch-bundle.sh, what the workflows run to take a bundle built by the app's own repository: against
// a server on 127.0.0.1 that records what it was sent.

const script = path.resolve(__dirname, "../../scripts/fetch-bundle.sh");
const bundle = crypto.randomBytes(200_000);
const sum = crypto.createHash("sha256").update(bundle).digest("hex");
let tmp: string;
let server: http.Server;
let base: string;
const seen: { url: string; auth?: string; accept?: string }[] = [];

beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "meteor-do-fetch-"));
    server = http.createServer((req, res) => {
        seen.push({ url: req.url!, auth: req.headers.authorization, accept: req.headers.accept });
        if (req.url === "/moved") res.writeHead(302, { location: "/app.tgz" }).end();
        else if (req.url!.startsWith("/app.tgz")) res.writeHead(200).end(bundle);
        else res.writeHead(404).end("no");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
});
afterAll(async () => {
    await new Promise((r) => server.close(r));
    fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs the script (async: the server lives in this process); status, stdout and stderr. */
function fetchBundle(args: string[], env: Record<string, string> = {}): Promise<[number | null, string, string]> {
    return new Promise((resolve, reject) => {
        const child = spawn("bash", [script, ...args], { env: { PATH: process.env.PATH, ...env } });
        let out = "";
        let err = "";
        child.stdout.on("data", (c) => (out += c));
        child.stderr.on("data", (c) => (err += c));
        const timer = setTimeout(() => child.kill(), 30_000);
        child.on("error", reject);
        child.on("close", (code) => {
            clearTimeout(timer);
            resolve([code, out, err]);
        });
    });
}

beforeEach(() => (seen.length = 0));

test("the published sha256: the file is kept, through a redirect; the token goes only in a header", async () => {
    const out = path.join(tmp, "ok", "bundle.tgz");
    const [code, stdout, stderr] = await fetchBundle([`${base}/moved`, sum, out], { BUNDLE_TOKEN: "tok-123" });
    expect([code, stderr]).toEqual([0, ""]);
    expect(stdout).toBe(`fetch-bundle: ${out} sha256 ${sum}\n`);
    expect(fs.readFileSync(out).equals(bundle)).toBe(true);
    expect(fs.readdirSync(path.dirname(out))).toEqual(["bundle.tgz"]);
    expect(seen).toEqual([
        { url: "/moved", auth: "Bearer tok-123", accept: "application/octet-stream" },
        { url: "/app.tgz", auth: "Bearer tok-123", accept: "application/octet-stream" },
    ]);
});

test("without a token no Authorization header is sent", async () => {
    const [code] = await fetchBundle([`${base}/app.tgz`, sum, path.join(tmp, "anon.tgz")]);
    expect(code).toBe(0);
    expect(seen.map((s) => s.auth)).toEqual([undefined]);
});

test("another sha256: refused, nothing left behind, the URL's query (a signature) not printed", async () => {
    const out = path.join(tmp, "bad", "bundle.tgz");
    const wrong = "0".repeat(64);
    const [code, , stderr] = await fetchBundle([`${base}/app.tgz?X-Amz-Signature=s3cr3t`, wrong, out]);
    expect(code).toBe(1);
    expect(stderr).toBe(`fetch-bundle: ${base}/app.tgz has sha256 ${sum}, not the expected ${wrong}; not using it\n`);
    expect(fs.readdirSync(path.dirname(out))).toEqual([]);
});

test.each([
    ["an HTTP error", () => [`${base}/missing.tgz`, sum], 22, /returned error: 404/],
    ["a sha256 that is not one", () => [`${base}/app.tgz`, sum.slice(1)], 2, /sha256 must be 64 lowercase hex digits/],
    ["a plain http URL elsewhere", () => ["http://example.invalid/app.tgz", sum], 2, /the URL must be https:\/\//],
] as [string, () => string[], number, RegExp][])("%s: fails, no file", async (_what, args, status, message) => {
    const out = path.join(tmp, "fail", "bundle.tgz");
    const [code, , stderr] = await fetchBundle([...args(), out]);
    expect(code).toBe(status);
    expect(stderr).toMatch(message);
    expect(fs.existsSync(out)).toBe(false);
});
