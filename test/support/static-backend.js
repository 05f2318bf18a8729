// A fast fixed-response server for bench/lb.ts, so the balancer is the limit (not the app).
// Usage: node static-backend.js <ip> <port>
"use strict";
const http = require("http");
const [ip, port] = process.argv.slice(2);
const body = Buffer.from(`hello from ${ip}:${port}\n`);
const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain", "content-length": body.length });
    res.end(body);
});
server.keepAliveTimeout = 65000;
server.listen(Number(port), ip, () => process.stdout.write("listening\n"));
process.on("SIGTERM", () => process.exit(0));
