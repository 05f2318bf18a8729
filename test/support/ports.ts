// Free loopback ports, so suites that run at the same time never collide on a fixed number.
import * as net from "net";

/** A free TCP port on 127.0.0.1 (bound then released). */
export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
    });
}

/** The three listeners of a local LB (HTTP, HTTPS, admin API), each on a free port. */
export async function lbPorts(): Promise<{ http: number; https: number; admin: number }> {
    return { http: await freePort(), https: await freePort(), admin: await freePort() };
}

/** Whether something accepts TCP connections on host:port. */
export function portOpen(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ host, port });
        s.once("connect", () => {
            s.destroy();
            resolve(true);
        });
        s.once("error", () => resolve(false));
    });
}
