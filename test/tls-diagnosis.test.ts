/**
 * The TLS error codes `explainTlsError` knows, as each OpenSSL spells them. (The handshakes
 * themselves, against real nats-server processes: test/security-connect.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { explainTlsError, TlsHandshakeError } from "../src/connect/tls-diagnosis.js";

const tlsError = (code: string) => Object.assign(new Error("ssl alert"), { code });

describe("connect - explainTlsError", () => {
  it("connect - an SSLv3 alert in OpenSSL 3.2's spelling (ssl/tls alert) is the same refusal as in 3.0's", () => {
    for (const code of ["ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE", "ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE"]) {
      const err = explainTlsError(tlsError(code));
      expect(err).toBeInstanceOf(TlsHandshakeError);
      expect(err).toMatchObject({ certificate: "client", tlsCode: "ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE" });
      expect(err!.message).toMatch(/^TLS: the server refused the client certificate: expired, /);
      expect(err!.cause).toMatchObject({ code });
    }
    expect(explainTlsError(tlsError("ERR_SSL_SSL/TLS_ALERT_CERTIFICATE_EXPIRED"))).toMatchObject({
      certificate: "client",
      tlsCode: "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED",
    });
  });

  it("connect - a code it does not know is not explained", () => {
    expect(explainTlsError(tlsError("ERR_SSL_SSL/TLS_ALERT_HANDSHAKE_FAILURE"))).toBeUndefined();
    expect(explainTlsError(new Error("no code"))).toBeUndefined();
  });
});
