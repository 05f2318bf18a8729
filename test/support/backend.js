// A stand-in app host for the nginx suite and bench/lb.ts: answers every request with who it is and
// what it received, /healthz with 200, and echoes WebSocket messages tagged with its name.
// Usage: node backend.js <ip> <port> [name]; HEALTH_DELAY_MS=n delays /healthz, GET /probe-stats tells
// how many health checks arrived, when (ms since the epoch, the last 50) and the most in flight at once.
"use strict";
const http = require("http");
const { WebSocketServer } = require("ws");

const [ip, port, name = `${process.argv[2]}:${process.argv[3]}`] = process.argv.slice(2);
const healthDelay = Number(process.env.HEALTH_DELAY_MS || 0);
const probes = { count: 0, inFlight: 0, maxInFlight: 0, arrivals: [] };
const server = http.createServer((req, res) => {
    if (req.url === "/healthz") {
        probes.count++;
        probes.arrivals = [...probes.arrivals, Date.now()].slice(-50);
        probes.host = req.headers.host;
        probes.userAgent = req.headers["user-agent"];
        probes.inFlight++;
        probes.maxInFlight = Math.max(probes.maxInFlight, probes.inFlight);
        setTimeout(() => {
            probes.inFlight--;
            res.writeHead(200, { "content-type": "text/plain" });
            res.end("ok\n");
        }, healthDelay);
        return;
    }
    const code = /^\/status\/(\d{3})$/.exec(req.url);
    if (code) {
        res.writeHead(Number(code[1]), { location: "/", "content-type": "text/plain" });
        res.end(`${code[1]}\n`);
        return;
    }
    if (req.url === "/probe-stats") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(probes));
        return;
    }
    const body = JSON.stringify({
        backend: name,
        url: req.url,
        headers: req.headers,
        remoteAddress: req.socket.remoteAddress,
    });
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
});
server.keepAliveTimeout = 65000;
const wss = new WebSocketServer({ server });
wss.on("connection", (ws) => {
    ws.send(JSON.stringify({ backend: name }));
    ws.on("message", (m) => ws.send(JSON.stringify({ backend: name, echo: m.toString() })));
});
server.listen(Number(port), ip, () => process.stdout.write("listening\n"));
process.on("SIGTERM", () => process.exit(0));
