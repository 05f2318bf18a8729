// The meteor-do sample server: a small stand-in for a Meteor server program.
// It speaks enough DDP (over SockJS at /sockjs and a raw WebSocket at /websocket, as Meteor does) for real
// DDP clients to connect, subscribe and call a method, and it reads the environment a Meteor bundle reads.
// A full Meteor build would need the meteor tool (not installable here), hence this small server.
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const http = require("http");
const os = require("os");
const path = require("path");
const sockjs = require("sockjs");

const DDP_VERSIONS = ["1", "pre2", "pre1"];

function readBuildInfo() {
  // Written by sample-app/build.js: { label, broken, requireMongoUrl }.
  try {
    return JSON.parse(fs.readFileSync(path.join(__dirname, "release.json"), "utf8"));
  } catch {
    return {};
  }
}

function readReleaseId(build) {
  // stage.sh writes releases/<sha256>/RELEASE beside bundle/; outside a staged release use the build label.
  if (process.env.RELEASE_ID) return process.env.RELEASE_ID;
  try {
    return fs.readFileSync(path.join(__dirname, "..", "..", "..", "RELEASE"), "utf8").trim();
  } catch {
    return build.label || "dev";
  }
}

function readSettings() {
  const raw = process.env.METEOR_SETTINGS;
  if (!raw) return {};
  try {
    return JSON.parse(raw);
  } catch (e) {
    // Meteor refuses to start on invalid settings too.
    console.error("METEOR_SETTINGS are not valid JSON");
    process.exit(1);
  }
  return {};
}

const build = readBuildInfo();
const settings = readSettings();
const releaseId = readReleaseId(build);
const label =
  (settings.public && settings.public.releaseLabel) || settings.releaseLabel || build.label || releaseId.slice(0, 12);
const hostName = os.hostname();
const port = Number(process.env.PORT || 3000);
const bindIp = process.env.BIND_IP || undefined;
const rootUrl = process.env.ROOT_URL || `http://localhost:${port}`;
const graceMs = Math.max(0, Number(process.env.STOP_GRACE_SECONDS || 5) * 1000);

if (build.requireMongoUrl && !process.env.MONGO_URL) {
  // What a real Meteor server does at start without a database (its mongo package), uncaught.
  throw new Error("MONGO_URL must be set in environment");
}

if (build.broken === "exit") {
  // A deliberately bad release: the tests and the e2e scenario deploy it to prove rollback.
  console.error("sample-app: this build is broken on purpose (exit at start)");
  process.exit(1);
}

// Meteor's rule (livedata server): with HTTP_FORWARDED_COUNT = n > 0, trust the n-th address from the right
// of X-Forwarded-For; with 0, use the socket's address; when the header has fewer entries, no address.
function clientAddress(remoteAddress, headers) {
  const count = parseInt(process.env.HTTP_FORWARDED_COUNT, 10) || 0;
  if (count === 0) return remoteAddress || null;
  const header = headers["x-forwarded-for"];
  if (typeof header !== "string") return null;
  const hops = header.trim().split(/\s*,\s*/);
  if (count < 0 || count > hops.length) return null;
  return hops[hops.length - count];
}

function info(clientIp) {
  return { host: hostName, release: releaseId, label, rootUrl, clientIp, pid: process.pid, node: process.version };
}

const publications = {
  "sample.items": () => [
    ["items", "a", { n: 1, title: "first" }],
    ["items", "b", { n: 2, title: "second" }],
    ["items", "c", { n: 3, title: "third" }],
  ],
  "sample.server": () => [["server", "self", { host: hostName, release: releaseId, label }]],
};

const methods = {
  "sample.whoami": (session) => info(session.clientIp),
};

function meteorError(code, reason) {
  return { isClientSafe: true, error: code, reason, message: `${reason} [${code}]`, errorType: "Meteor.Error" };
}

const connections = new Set();
let stopping = false;

function onConnection(conn) {
  if (!conn) return; // sockjs may hand over a connection that already closed
  connections.add(conn);
  const session = { id: crypto.randomBytes(9).toString("base64url"), subs: new Map(), clientIp: null };
  session.clientIp = clientAddress(conn.remoteAddress, conn.headers || {});
  const send = (msg) => conn.write(JSON.stringify(msg));
  conn.on("close", () => connections.delete(conn));
  send({ server_id: "0" });
  conn.on("data", (raw) => {
    let msg;
    try {
      msg = JSON.parse(raw);
    } catch {
      send({ msg: "error", reason: "Bad request" });
      return;
    }
    switch (msg.msg) {
      case "connect":
        if (!DDP_VERSIONS.includes(msg.version)) send({ msg: "failed", version: DDP_VERSIONS[0] });
        else send({ msg: "connected", session: session.id });
        break;
      case "ping":
        send(msg.id === undefined ? { msg: "pong" } : { msg: "pong", id: msg.id });
        break;
      case "pong":
        break;
      case "sub": {
        const publish = publications[msg.name];
        if (!publish) {
          send({ msg: "nosub", id: msg.id, error: meteorError(404, `Subscription '${msg.name}' not found`) });
          break;
        }
        const docs = publish(msg.params || []);
        session.subs.set(msg.id, docs);
        for (const [collection, id, fields] of docs) send({ msg: "added", collection, id, fields });
        send({ msg: "ready", subs: [msg.id] });
        break;
      }
      case "unsub": {
        const docs = session.subs.get(msg.id) || [];
        session.subs.delete(msg.id);
        for (const [collection, id] of docs) send({ msg: "removed", collection, id });
        send({ msg: "nosub", id: msg.id });
        break;
      }
      case "method": {
        const method = methods[msg.method];
        if (!method) send({ msg: "result", id: msg.id, error: meteorError(404, `Method '${msg.method}' not found`) });
        else send({ msg: "result", id: msg.id, result: method(session, ...(msg.params || [])) });
        send({ msg: "updated", methods: [msg.id] });
        break;
      }
      default:
        send({ msg: "error", reason: "Bad request", offendingMessage: msg });
    }
  });
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function onRequest(req, res) {
  const pathname = new URL(req.url, "http://x").pathname;
  if (stopping) res.setHeader("Connection", "close");
  if (build.broken === "unhealthy") {
    res.writeHead(503, { "Content-Type": "text/plain" });
    res.end("broken on purpose\n");
    return;
  }
  const clientIp = clientAddress(req.socket.remoteAddress, req.headers);
  if (pathname === "/info.json") {
    res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-store" });
    res.end(JSON.stringify(info(clientIp)) + "\n");
    return;
  }
  if (pathname !== "/") {
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("not found\n");
    return;
  }
  res.writeHead(200, { "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store" });
  if (req.method === "HEAD") return res.end();
  res.end(`<!doctype html>
<html><head><meta charset="utf-8"><title>meteor-do sample</title></head>
<body>
<h1>meteor-do sample app</h1>
<dl>
<dt>host</dt><dd id="host">${escapeHtml(hostName)}</dd>
<dt>release</dt><dd id="release">${escapeHtml(releaseId)}</dd>
<dt>label</dt><dd id="label">${escapeHtml(label)}</dd>
<dt>root url</dt><dd id="root-url">${escapeHtml(rootUrl)}</dd>
<dt>your address</dt><dd id="client-ip">${escapeHtml(clientIp)}</dd>
</dl>
</body></html>
`);
}

const server = http.createServer(onRequest);
server.keepAliveTimeout = 65000; // longer than the LB's upstream keepalive so the LB closes first
const sock = sockjs.createServer({ prefix: "/sockjs", log: () => {}, disconnect_delay: 60000 });
sock.on("connection", onConnection);
sock.installHandlers(server);

// Meteor's server serves the raw WebSocket endpoint /websocket by rewriting it to SockJS's /sockjs/websocket
// before SockJS sees the request.
for (const event of ["request", "upgrade"]) {
  const listeners = server.listeners(event).slice();
  server.removeAllListeners(event);
  server.on(event, (req, ...rest) => {
    const q = req.url.indexOf("?");
    const pathname = q < 0 ? req.url : req.url.slice(0, q);
    if (pathname === "/websocket" || pathname === "/websocket/") req.url = "/sockjs/websocket" + (q < 0 ? "" : req.url.slice(q));
    for (const l of listeners) l.call(server, req, ...rest);
  });
}

function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  console.log(`sample-app: ${signal}, closing ${connections.size} DDP connection(s) over ${graceMs} ms`);
  server.close();
  server.closeIdleConnections();
  // Close DDP connections one by one over the grace period so their reconnects spread over time
  // instead of arriving at the other hosts all at once.
  const list = [...connections];
  const step = list.length > 0 ? (graceMs * 0.8) / list.length : 0;
  list.forEach((conn, i) => setTimeout(() => conn.close(3000, "server shutting down"), i * step));
  const finish = () => {
    server.closeAllConnections();
    process.exit(0);
  };
  const hardStop = setTimeout(finish, graceMs);
  const poll = setInterval(() => {
    if (connections.size === 0) {
      clearInterval(poll);
      clearTimeout(hardStop);
      setTimeout(finish, 100); // let close frames flush
    }
  }, 50);
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));

server.listen(port, bindIp, () => {
  console.log(`sample-app: release ${releaseId} (${label}) listening on ${bindIp || "*"}:${port}`);
});
