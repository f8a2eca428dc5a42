/**
 * Names the cause of a failed TLS connection to NATS. Two kinds of failure look alike to nats.js:
 * a server certificate the client does not trust fails the handshake at once (Node's verify error),
 * but a client certificate the server refuses (missing, expired, from another CA) is refused by
 * nats-server after a TLS 1.3 handshake has completed on the client's side, so nats.js only reports
 * a timeout. {@link diagnoseTls} repeats the handshake NATS-style (plain INFO line, then TLS, then
 * CONNECT + PING) to hear the server's alert.
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import net from "node:net";
import tls from "node:tls";
import { brandError, ErrorCode, MeshError } from "../protocol/index.js";
import type { NodeTlsOptions } from "./tls-files.js";

/**
 * What went wrong in a TLS handshake with a NATS server, with the advice that fixes it; the `cause`
 * of the {@link ConnectError} that `connect()` raises. Code `NM_ERR_TLS_HANDSHAKE`, status 503, as the
 * connection failure's; {@link TlsHandshakeError.tlsCode} names the failure as Node or OpenSSL did.
 *
 * @example
 * ```ts
 * const nc = await connect({ servers: "tls://nats.internal:4222" }).catch((err) => err);
 * if (nc.cause instanceof TlsHandshakeError) console.log(nc.cause.tlsCode, nc.cause.message); // e.g. the certificate problem and its fix
 * ```
 */
export class TlsHandshakeError extends MeshError {
  static {
    brandError(TlsHandshakeError, "TlsHandshakeError");
  }

  /** Whose certificate failed: the server's (the client refused it) or the client's (the server did). */
  readonly certificate: "server" | "client";
  /**
   * Node's or OpenSSL's code of the failure, e.g. `CERT_HAS_EXPIRED`, `ERR_SSL_TLSV1_ALERT_UNKNOWN_CA`; an
   * SSLv3 alert keeps OpenSSL 3.0's spelling (`ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE`) on every OpenSSL.
   */
  readonly tlsCode: string;

  /**
   * @param certificate - whose certificate failed
   * @param tlsCode - the Node/OpenSSL error code
   * @param message - what is wrong and what to check
   * @param cause - the underlying error
   * @example
   * ```ts
   * new TlsHandshakeError("client", "ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED", "the client certificate has expired");
   * ```
   */
  constructor(certificate: "server" | "client", tlsCode: string, message: string, cause?: unknown) {
    super(ErrorCode.TlsHandshake, 503, `TLS: ${message}`, { cause });
    this.certificate = certificate;
    this.tlsCode = tlsCode;
  }
}

const SERVER_CERT: Record<string, string> = {
  CERT_HAS_EXPIRED: "the server's certificate has expired",
  CERT_NOT_YET_VALID: "the server's certificate is not valid yet",
  ERR_TLS_CERT_ALTNAME_INVALID: "the server's certificate does not name the host connected to",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    "the server's certificate is not signed by a trusted CA (check NATS_CA / ca)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    "the server's certificate is not signed by a trusted CA (check NATS_CA / ca)",
  SELF_SIGNED_CERT_IN_CHAIN: "the server's certificate is not signed by a trusted CA (check NATS_CA / ca)",
  DEPTH_ZERO_SELF_SIGNED_CERT: "the server's certificate is self-signed and not trusted (check NATS_CA / ca)",
};

const CLIENT_CERT: Record<string, string> = {
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    "the server refused the client certificate: it has expired (check NATS_CERT / cert)",
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA:
    "the server refused the client certificate: it is not signed by a CA the server trusts (check NATS_CERT / cert)",
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    "the server requires a client certificate and none was given (set NATS_CERT and NATS_KEY)",
  // nats-server (Go's crypto/tls) sends this one alert for an expired certificate, one from a CA it does
  // not trust, and one not made for client authentication; its log names which
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE:
    "the server refused the client certificate: expired, not signed by a CA the server trusts, or not for client authentication (check NATS_CERT / cert; the server's log says which)",
  ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
    "the server refused the client certificate: not usable for client authentication (check its extendedKeyUsage)",
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED: "the server refused the client certificate: it was revoked",
};

/**
 * Explains a TLS error raised while connecting, or returns `undefined` when it is not one this
 * module knows.
 *
 * @param err - the error nats.js (or {@link diagnoseTls}) raised
 * @returns a {@link TlsHandshakeError} naming whose certificate failed and why
 * @example
 * ```ts
 * explainTlsError(Object.assign(new Error("certificate has expired"), { code: "CERT_HAS_EXPIRED" }));
 * ```
 */
export function explainTlsError(err: unknown): TlsHandshakeError | undefined {
  const raw = (err as { code?: unknown } | undefined)?.code;
  if (typeof raw !== "string") return undefined;
  // OpenSSL 3.2+ (in current Node 22, 24 and 26) spells the SSLv3 alerts "ssl/tls alert ...": one code
  const code = raw.replace("ERR_SSL_SSL/TLS_ALERT_", "ERR_SSL_SSLV3_ALERT_");
  const server = SERVER_CERT[code];
  if (server) return new TlsHandshakeError("server", code, `${server} (${code})`, err);
  const client = CLIENT_CERT[code];
  if (client) return new TlsHandshakeError("client", code, `${client} (${code})`, err);
  return undefined;
}

function certificateRequired(code: string, cause: unknown): TlsHandshakeError {
  return new TlsHandshakeError(
    "client",
    code,
    `${CLIENT_CERT.ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED} (${code})`,
    cause,
  );
}

function hostPort(server: string): { host: string; port: number } | undefined {
  try {
    const url = new URL(server.includes("://") ? server : `nats://${server}`);
    return { host: url.hostname.replace(/^\[|\]$/g, ""), port: Number(url.port || 4222) };
  } catch {
    return undefined;
  }
}

/**
 * Repeats a NATS connection's TLS handshake to `server` and reports why it fails: the server's INFO
 * line in plain text, a TLS upgrade with the same certificate, key and CA, then `CONNECT` and `PING`,
 * after which nats-server has checked the client certificate. Used only after a connection attempt
 * failed, to turn a bare timeout into a cause.
 *
 * @param server - the server URL (`nats://host:port`, `tls://host:port` or `host:port`)
 * @param options - the TLS options of the failed attempt (`caFile`, `certFile`, `keyFile`, Node TLS options)
 * @param timeoutMs - how long to wait in all
 * @returns the explained failure, or `undefined` when the handshake works or fails some other way
 * @example
 * ```ts
 * const why = await diagnoseTls("nats://127.0.0.1:4443", { caFile: "ca.pem", certFile: "c.pem", keyFile: "k.pem" });
 * ```
 */
export async function diagnoseTls(
  server: string,
  options: NodeTlsOptions,
  timeoutMs = 2000,
): Promise<TlsHandshakeError | undefined> {
  const target = hostPort(server);
  if (!target) return undefined;
  const { caFile, certFile, keyFile, ...rest } = options as NodeTlsOptions & {
    caFile?: string;
    certFile?: string;
    keyFile?: string;
  };
  let files: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  try {
    files = {
      ...(caFile ? { ca: await readFile(caFile) } : {}),
      ...(certFile ? { cert: await readFile(certFile) } : {}),
      ...(keyFile ? { key: await readFile(keyFile) } : {}),
    };
  } catch {
    return undefined;
  }
  return new Promise((resolve) => {
    const raw = net.connect(target.port, target.host);
    let secure: tls.TLSSocket | undefined;
    const done = (err?: unknown) => {
      clearTimeout(timer);
      const why = err === undefined ? undefined : explainTlsError(err);
      // without a certificate of ours, any refusal of it means one is required
      resolve(why?.certificate === "client" && !certFile ? certificateRequired(why.tlsCode, err) : why);
      raw.destroy();
      secure?.destroy();
    };
    const timer = setTimeout(() => done(), timeoutMs);
    const plainError = () => done();
    raw.on("error", plainError);
    raw.once("data", () => {
      // the plain INFO line arrived: upgrade as nats.js does; from now on the TLS socket reports
      raw.off("error", plainError);
      raw.on("error", () => undefined);
      secure = tls.connect({
        ...(rest as tls.ConnectionOptions),
        ...files,
        socket: raw,
        servername: net.isIP(target.host) ? undefined : target.host,
      });
      secure.on("error", done);
      secure.once("secureConnect", () =>
        secure!.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n'),
      );
      secure.on("data", (d: Buffer) => {
        if (d.includes("PONG")) done();
      });
      secure.once("close", () => done());
    });
  });
}
