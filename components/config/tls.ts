import * as pulumi from "@pulumi/pulumi";
import { TlsMode, tlsModes } from "../../lib/types";
import { rules } from "../../lib/validate";
import { Reader } from "./reader";

/** The site's name and its certificate. */
export interface TlsSettings {
    /** The site's domain; unset: the LB's reserved IP with a self-signed certificate. */
    domain?: string;
    mode: TlsMode;
    /** mode provided: the PEM chain and its (secret) key. */
    certificate?: pulumi.Output<string>;
    privateKey?: pulumi.Output<string>;
    /** mode letsencrypt: the ACME account's contact. */
    letsencryptEmail?: string;
    /** ACME directory URL certbot uses (mode letsencrypt). */
    letsencryptServer: string;
    /** Strict-Transport-Security max-age the LB sends; 0 (always with self-signed): no header. */
    hstsMaxAge: number;
}

/** ACME directories that letsencryptServer may name instead of a URL. */
export const letsencryptDirectories: Record<string, string> = {
    production: "https://acme-v02.api.letsencrypt.org/directory",
    staging: "https://acme-staging-v02.api.letsencrypt.org/directory",
};

export function readTls(r: Reader): TlsSettings {
    const domain = r.optional("domain", rules.domain);
    const mode = r.oneOf("tlsMode", tlsModes);
    const certificate = r.text("tlsCertificate");
    const privateKey = r.text("tlsPrivateKey");
    const letsencryptEmail = r.text("letsencryptEmail");
    if (mode === "provided") {
        if (certificate === undefined)
            r.problem(
                `${r.key("tlsCertificate")} is required when ${r.key("tlsMode")} is provided (a PEM certificate chain)`,
            );
        else if (!/-----BEGIN CERTIFICATE-----/.test(certificate))
            r.problem(`${r.key("tlsCertificate")} must be a PEM certificate chain (-----BEGIN CERTIFICATE-----)`);
        if (privateKey === undefined)
            r.problem(
                `${r.key("tlsPrivateKey")} is required when ${r.key("tlsMode")} is provided (set it with \`pulumi config set --secret tlsPrivateKey < key.pem\`)`,
            );
        else if (!/-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/.test(privateKey))
            r.problem(`${r.key("tlsPrivateKey")} must be a PEM private key (its value is secret and not shown)`);
    } else if (mode === "letsencrypt") {
        if (domain === undefined)
            r.problem(
                `${r.key("domain")} is required when ${r.key("tlsMode")} is letsencrypt (HTTP-01 validates a domain name, not an IP address)`,
            );
        if (letsencryptEmail === undefined)
            r.problem(
                `${r.key("letsencryptEmail")} is required when ${r.key("tlsMode")} is letsencrypt (the ACME account's contact for expiry notices)`,
            );
    }
    if (letsencryptEmail !== undefined && !rules.email.ok(letsencryptEmail))
        r.bad("letsencryptEmail", letsencryptEmail, rules.email.allowed);

    const serverText = r.text("letsencryptServer") ?? "production";
    const letsencryptServer = letsencryptDirectories[serverText] ?? serverText;
    if (!/^https:\/\/[^\s/]+(\/\S*)?$/.test(letsencryptServer))
        r.bad(
            "letsencryptServer",
            serverText,
            "must be production, staging or the https:// directory URL of an ACME server",
        );

    // A browser cannot pin a certificate it was asked to click through: no HSTS for self-signed.
    const hstsMaxAge = r.int("hstsMaxAge", rules.hstsMaxAge);
    return {
        domain,
        mode,
        hstsMaxAge: mode === "self-signed" ? 0 : hstsMaxAge,
        certificate: certificate === undefined ? undefined : pulumi.output(certificate),
        privateKey: r.secret("tlsPrivateKey"),
        letsencryptEmail,
        letsencryptServer,
    };
}
