import * as pulumi from "@pulumi/pulumi";
import * as tls from "@pulumi/tls";
import { TlsMode } from "./config";

export interface SiteCertificateArgs {
    mode: TlsMode;
    /** The site's name: the domain, or the reserved IP when there is no domain. */
    domain?: string;
    ipAddress: pulumi.Input<string>;
    /** tlsMode provided: the PEM chain and its (secret) key from stack config. */
    certificatePem?: pulumi.Input<string>;
    privateKeyPem?: pulumi.Input<string>;
}

/**
 * The certificate the load balancer serves. self-signed: an ECDSA P-256 key and a one-year certificate
 * for the domain (or the reserved IP), renewed by `pulumi up` within 30 days of expiry. provided: the
 * configured chain and key. The private key is a secret either way.
 */
export class SiteCertificate extends pulumi.ComponentResource {
    readonly certificatePem: pulumi.Output<string>;
    readonly privateKeyPem: pulumi.Output<string>;
    readonly selfSigned: boolean;

    constructor(name: string, args: SiteCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:tls:SiteCertificate", name, {}, opts);
        this.selfSigned = args.mode === "self-signed";
        if (args.mode === "provided") {
            if (!args.certificatePem || !args.privateKeyPem) {
                throw new Error("SiteCertificate: mode provided needs certificatePem and privateKeyPem");
            }
            this.certificatePem = pulumi.output(args.certificatePem);
            this.privateKeyPem = pulumi.secret(args.privateKeyPem);
        } else if (args.mode === "self-signed") {
            const key = new tls.PrivateKey(
                `${name}-key`,
                { algorithm: "ECDSA", ecdsaCurve: "P256" },
                {
                    parent: this,
                    additionalSecretOutputs: ["privateKeyPem", "privateKeyOpenssh", "privateKeyPemPkcs8"],
                },
            );
            const cert = new tls.SelfSignedCert(
                `${name}-cert`,
                {
                    privateKeyPem: key.privateKeyPem,
                    subject: { commonName: args.domain ?? args.ipAddress, organization: "meteor-do" },
                    ...(args.domain ? { dnsNames: [args.domain] } : { ipAddresses: [args.ipAddress] }),
                    validityPeriodHours: 24 * 365,
                    earlyRenewalHours: 24 * 30,
                    allowedUses: ["key_encipherment", "digital_signature", "server_auth"],
                },
                { parent: this },
            );
            this.certificatePem = cert.certPem;
            this.privateKeyPem = pulumi.secret(key.privateKeyPem);
        } else {
            throw new Error(
                `SiteCertificate: mode ${JSON.stringify(args.mode)} is not supported yet (self-signed, provided)`,
            );
        }
        this.registerOutputs({ certificatePem: this.certificatePem });
    }
}
