// The status page in a real browser: Debian's chromium (headless, driven by playwright-core) loads
// /check-status from a real nginx on loopback, on a desktop and a phone viewport. Asserts what a person
// sees (droplet names, states, release, Node.js, the certificate), that the page refreshes itself, that
// its links work through a port forward, and saves screenshots (STATUS_PAGE_DOCS=1 also writes the
// README's docs/status-page*.png).
import * as crypto from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { Browser, BrowserContext, chromium, Page } from "playwright-core";
import WebSocket from "ws";
import { selfSignedCert } from "../support/certs";
import { ROOT, tempDir } from "../support/files";
import { request } from "../support/http";
import { Backend, Lb, loopbackView, peerStatus, startBackend, startLb, StatusPage, stopAll } from "../support/nginx";
import { freePort, lbPorts } from "../support/ports";
import { stop } from "../support/processes";
import { waitFor } from "../support/wait";

jest.setTimeout(120_000);

const CHROMIUM = "/usr/bin/chromium";
const RELEASE = "9a7e3f1c".repeat(8);
const OLD_RELEASE = "5d20b8e4".repeat(8);
const HOSTS = ["meteor-do-prod-app-1", "meteor-do-prod-app-2", "meteor-do-prod-app-3"];
const shots = path.join(os.tmpdir(), "meteor-do-status-page");

let ports: { http: number; https: number; admin: number };
let backends: Backend[];
let lb: Lb;
let browser: Browser;
let forward: net.Server;
const sockets: WebSocket[] = [];

const admin = (peer: string, action: string, query = "") =>
    request({ url: `http://127.0.0.1:${ports.admin}/lb/peers/${peer}/${action}${query}`, method: "POST" });
const page = (refresh = 1) => `https://127.0.0.1:${ports.https}/check-status?refresh=${refresh}`;

/** A TCP forward to the admin port, as `ssh -L <port>:127.0.0.1:8181 lb` gives an operator. */
function startForward(target: number): Promise<number> {
    forward = net.createServer((c) => {
        const up = net.connect(target, "127.0.0.1");
        c.pipe(up).pipe(c);
        c.on("error", () => up.destroy());
        up.on("error", () => c.destroy());
    });
    return new Promise((resolve) =>
        forward.listen(0, "127.0.0.1", () => resolve((forward.address() as net.AddressInfo).port)),
    );
}

async function open(
    viewport: { width: number; height: number },
    url: string,
    mobile = false,
): Promise<{ context: BrowserContext; tab: Page }> {
    const context = await browser.newContext({
        viewport,
        isMobile: mobile,
        hasTouch: mobile,
        deviceScaleFactor: mobile ? 2 : 1,
        ignoreHTTPSErrors: true,
        colorScheme: "light",
    });
    const tab = await context.newPage();
    await tab.goto(url);
    return { context, tab };
}

/** Saves a screenshot beside the others (and, with STATUS_PAGE_DOCS=1, as the README's). */
async function shot(tab: Page, name: string, docsName: string): Promise<void> {
    const file = path.join(shots, `${name}.png`);
    await tab.screenshot({ path: file, fullPage: true });
    if (process.env.STATUS_PAGE_DOCS) fs.copyFileSync(file, path.join(ROOT, "docs", docsName));
}

const row = (tab: Page, host: string) => tab.locator("tr.peer", { hasText: host });
/** No horizontal scrolling: everything fits the viewport's width. */
const fitsWidth = (tab: Page) => tab.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

beforeAll(async () => {
    fs.mkdirSync(shots, { recursive: true });
    const dir = tempDir("status-page");
    // A certificate with 90 days to run, as Let's Encrypt issues them.
    selfSignedCert(dir, "lb.test", 90);
    ports = await lbPorts();
    const appPorts = [await freePort(), await freePort(), await freePort()];
    backends = await Promise.all(appPorts.map((p, i) => startBackend(`127.0.0.${61 + i}`, p)));
    lb = await startLb(
        loopbackView(
            dir,
            backends.map((b, i) => ({ ip: b.ip, port: b.port, host: HOSTS[i] })),
            ports,
        ),
    );
    // What cutover.sh reports: app-1 and app-2 run the new release; app-2 is in its cutover (draining).
    expect((await admin(backends[0].name, "undrain", `?release=${RELEASE}&node=v22.12.0`)).status).toBe(200);
    expect((await admin(backends[1].name, "drain", `?release=${OLD_RELEASE}&node=v22.12.0`)).status).toBe(200);
    await stop(backends[2].proc, "SIGKILL");
    await waitFor(
        "app-3 down",
        async () => (await peerStatus(ports.admin, backends[2].name)).status === "down",
        10_000,
    );
    // Two clients with an open WebSocket each, so the page has connections to show.
    for (const from of ["127.0.0.150", "127.0.0.151"]) {
        const ws = new WebSocket(`wss://127.0.0.1:${ports.https}/websocket`, {
            rejectUnauthorized: false,
            localAddress: from,
        });
        sockets.push(ws);
        await new Promise((resolve) => ws.once("message", resolve));
    }
    browser = await chromium.launch({
        executablePath: CHROMIUM,
        chromiumSandbox: false,
        args: [
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    });
});

afterAll(async () => {
    for (const ws of sockets) ws.close();
    await browser?.close();
    forward?.close();
    await stopAll();
});

test("desktop: a table with the droplet names, their states, releases and Node.js, and the certificate", async () => {
    const { context, tab } = await open({ width: 1280, height: 640 }, page(5));
    try {
        await tab.locator("thead").waitFor({ state: "visible" });
        for (const h of HOSTS) await row(tab, h).waitFor({ state: "visible" });
        await expectText(row(tab, HOSTS[0]).locator(".badge"), "up");
        await expectText(row(tab, HOSTS[1]).locator(".badge"), "draining");
        await expectText(row(tab, HOSTS[2]).locator(".badge"), "down");
        await expectText(row(tab, HOSTS[0]).locator("code"), RELEASE.slice(0, 12));
        expect(await row(tab, HOSTS[0]).locator('[data-label="Node.js"]').innerText()).toBe("v22.12.0");
        expect(await row(tab, HOSTS[2]).locator(".err").innerText()).toContain("connect: connection refused");
        // Valid for 90 days from a moment ago: 89 whole days are left.
        const notAfter = new Date(new crypto.X509Certificate(fs.readFileSync(lb.view.tls.certificate)).validTo);
        const expires = notAfter.toISOString().replace(/^(\d{4}-\d\d-\d\d)T(\d\d:\d\d).*$/, "$1 $2 UTC");
        expect(await tab.locator("dl.meta").innerText()).toMatch(
            new RegExp(`^Certificate\\s+expires ${expires} \\(in 89 days\\)\\s+Config\\s+generation 1\\s+Updated`),
        );
        expect(await tab.title()).toBe("1 up, 1 draining, 1 down · meteor-do load balancer");
        expect(await fitsWidth(tab)).toBe(true);
        await shot(tab, "desktop", "status-page.png");
    } finally {
        await context.close();
    }
});

test("phone: one card per host, every field labelled, nothing wider than the screen", async () => {
    const { context, tab } = await open({ width: 390, height: 844 }, page(5), true);
    try {
        await row(tab, HOSTS[1]).waitFor({ state: "visible" });
        expect(await tab.locator("thead").isVisible()).toBe(false);
        const card = await row(tab, HOSTS[1]).boundingBox();
        // A card spans the screen (less the page's padding), rather than a squeezed table row.
        expect(card!.width).toBeGreaterThan(330);
        const labels = await row(tab, HOSTS[1])
            .locator("td:not(.host)")
            .evaluateAll((tds) => tds.map((td) => getComputedStyle(td, "::before").content));
        expect(labels).toEqual(['"State"', '"Since"', '"Release"', '"Node.js"', '"Last check"', '"Connections"']);
        expect(await fitsWidth(tab)).toBe(true);
        await shot(tab, "phone", "status-page-phone.png");
    } finally {
        await context.close();
    }
});

test("the page refreshes itself in place: an undrain shows up without a reload", async () => {
    const { context, tab } = await open({ width: 1280, height: 640 }, page(1));
    let loads = 0;
    tab.on("load", () => (loads += 1));
    try {
        await expectText(row(tab, HOSTS[1]).locator(".badge"), "draining");
        const first = await tab.locator("#updated").innerText();
        expect((await admin(backends[1].name, "undrain", `?release=${RELEASE}`)).status).toBe(200);
        await tab.waitForFunction(
            (host) => document.querySelector(`tr.peer[data-name="${host}"] .badge`)?.textContent === "up",
            backends[1].name,
            { timeout: 10_000 },
        );
        await expectText(row(tab, HOSTS[1]).locator("code"), RELEASE.slice(0, 12));
        expect(await tab.locator("#updated").innerText()).not.toBe(first);
        expect(loads).toBe(0);
        // Paused, it stops asking.
        await tab.getByRole("link", { name: "pause", exact: true }).click();
        await tab.waitForURL(/refresh=0/);
        expect(await tab.locator("main").getAttribute("data-refresh")).toBe("0");
    } finally {
        expect((await admin(backends[1].name, "drain", `?release=${OLD_RELEASE}`)).status).toBe(200);
        await context.close();
    }
});

test("through a port forward to the admin port (no adminCidrs), the page and its links work", async () => {
    const local = await startForward(ports.admin);
    const { context, tab } = await open({ width: 1280, height: 640 }, `http://127.0.0.1:${local}/check-status`);
    try {
        await row(tab, HOSTS[0]).waitFor({ state: "visible" });
        await tab.getByRole("link", { name: "JSON", exact: true }).click();
        expect(tab.url()).toBe(`http://127.0.0.1:${local}/check-status?format=json`);
        const json = JSON.parse(await tab.locator("body").innerText()) as StatusPage;
        expect(json.servers.server.map((s) => s.host)).toEqual(HOSTS);
        await tab.goBack();
        await tab.getByRole("link", { name: "down", exact: true }).click();
        expect(tab.url()).toBe(`http://127.0.0.1:${local}/check-status?status=down`);
        expect(await tab.locator("tr.peer").count()).toBe(1);
    } finally {
        await context.close();
    }
});

test("when the LB stops answering, the page says its data is old and keeps trying", async () => {
    const { context, tab } = await open({ width: 1280, height: 640 }, page(1));
    try {
        await row(tab, HOSTS[0]).waitFor({ state: "visible" });
        await stop(lb.proc);
        await tab.locator("#stale").waitFor({ state: "visible", timeout: 10_000 });
        expect(await tab.locator("#stale").innerText()).toMatch(
            /^Could not refresh \(.+\); showing older data, trying again\.$/,
        );
        // The last good data stays on screen.
        await expectText(row(tab, HOSTS[0]).locator(".badge"), "up");
    } finally {
        await context.close();
    }
});

async function expectText(locator: ReturnType<Page["locator"]>, text: string): Promise<void> {
    await locator.waitFor({ state: "visible" });
    expect((await locator.innerText()).trim()).toBe(text);
}
