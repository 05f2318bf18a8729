// Throwaway TLS certificates (P-256, openssl CLI) for loopback listeners: the nginx suite's LBs, pebble's API.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface CertPair {
    certificate: string;
    privateKey: string;
}

const P256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

function openssl(args: string[]): void {
    execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

function selfSigned(pair: CertPair, cn: string, san?: string, days = 2): CertPair {
    const ext = san ? ["-addext", `subjectAltName=${san}`] : [];
    openssl([
        "req",
        "-x509",
        ...P256,
        "-keyout",
        pair.privateKey,
        "-out",
        pair.certificate,
        "-days",
        String(days),
        "-subj",
        `/CN=${cn}`,
        ...ext,
    ]);
    fs.chmodSync(pair.privateKey, 0o600);
    return pair;
}

/** A self-signed certificate for `cn` and 127.0.0.1, valid `days`, as dir/cert.pem and dir/key.pem (0600). */
export function selfSignedCert(dir: string, cn = "lb.test", days = 2): CertPair {
    const pair = { certificate: path.join(dir, "cert.pem"), privateKey: path.join(dir, "key.pem") };
    return selfSigned(pair, cn, `DNS:${cn},IP:127.0.0.1`, days);
}

/**
 * A throwaway CA (dir/ca.pem) and a certificate it signs for 127.0.0.1 and localhost (dir/cert.pem,
 * dir/key.pem): for a client that verifies the server against the CA bundle it is given.
 */
export function caSignedCert(dir: string, caName: string): CertPair & { ca: string } {
    fs.mkdirSync(dir, { recursive: true });
    const ca = selfSigned(
        { certificate: path.join(dir, "ca.pem"), privateKey: path.join(dir, "ca.key") },
        caName,
        "DNS:ca.test",
    );
    const pair = { certificate: path.join(dir, "cert.pem"), privateKey: path.join(dir, "key.pem") };
    const csr = path.join(dir, "leaf.csr");
    const ext = path.join(dir, "leaf.ext");
    openssl(["req", "-new", ...P256, "-keyout", pair.privateKey, "-out", csr, "-subj", "/CN=127.0.0.1"]);
    fs.chmodSync(pair.privateKey, 0o600);
    fs.writeFileSync(ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    openssl(
        ["x509", "-req", "-in", csr, "-CA", ca.certificate, "-CAkey", ca.privateKey, "-CAcreateserial"].concat([
            "-out",
            pair.certificate,
            "-days",
            "2",
            "-extfile",
            ext,
        ]),
    );
    return { ...pair, ca: ca.certificate };
}
