/**
 * The wire variants compared by run.ts. Each variant provides an echo-style responder (returns a
 * 100-byte body) and a client whose call() does one full request/response, including building the
 * request head and reading/validating the response head, as natsmesh would.
 */
import { headers, type Msg, type NatsConnection, type Subscription } from "@nats-io/nats-core";
import {
  ACCEPT,
  BODY,
  BODY_SIZE,
  CONTENT_TYPE,
  FLAG_JSON,
  FLAG_TEXT,
  frame,
  headerValue,
  jsonRequestHead,
  jsonResponseHead,
  PATH,
  parseJsonRequestHead,
  parseJsonResponseHead,
  parseTextRequestHead,
  parseTextResponseHead,
  RawHdrs,
  type RequestHead,
  type ResponseHead,
  rawHeaderPairs,
  requestHeaders,
  responseHeaders,
  textRequestHead,
  textResponseHead,
  unframe,
} from "./codec.js";
import { LeanMux } from "./mux.js";

export interface BenchClient {
  /** One complete request/response; rejects on a wrong answer. */
  call(): Promise<void>;
  close(): void;
}

export interface Variant {
  id: string;
  desc: string;
  /** false => connect with noAsyncTraces: true */
  asyncTraces: boolean;
  respond(nc: NatsConnection, subject: string): Subscription;
  client(nc: NatsConnection, subject: string): BenchClient;
}

const TIMEOUT_MS = 5000;

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bad response: ${what}`);
}

/** Subscribe with a callback that turns `handle(msg)` into a reply; errors are reported once. */
function serve(nc: NatsConnection, subject: string, handle: (m: Msg, reply: string) => void): Subscription {
  let reported = false;
  return nc.subscribe(subject, {
    callback: (err, msg) => {
      try {
        if (err) throw err;
        if (!msg.reply) throw new Error("request without reply subject");
        handle(msg, msg.reply);
      } catch (e) {
        if (!reported) console.error(`responder ${subject}:`, e);
        reported = true;
      }
    },
  });
}

// ---------------------------------------------------------------------------------------------
// A / A2 / B: plain body, no head
// ---------------------------------------------------------------------------------------------

function plainResponder(nc: NatsConnection, subject: string): Subscription {
  return serve(nc, subject, (_m, reply) => nc.publish(reply, BODY));
}

function ncRequestClient(nc: NatsConnection, subject: string): BenchClient {
  return {
    call: async () => {
      const m = await nc.request(subject, BODY, { timeout: TIMEOUT_MS });
      check(m.data.length === BODY_SIZE, "body");
    },
    close: () => {},
  };
}

function leanPlainClient(nc: NatsConnection, subject: string): BenchClient {
  const mux = new LeanMux(nc, TIMEOUT_MS);
  return {
    call: async () => {
      const m = await mux.request(subject, BODY);
      check(m.data.length === BODY_SIZE, "body");
    },
    close: () => mux.close(),
  };
}

// ---------------------------------------------------------------------------------------------
// C / C2 / C3: HTTP head in NATS headers
// ---------------------------------------------------------------------------------------------

type HdrBuild = "library" | "raw";
type HdrRead = "library" | "raw";

/** Reads a header from a received message, either via msg.headers (MsgHdrsImpl.decode) or raw. */
function headerReader(read: HdrRead): (m: Msg) => (name: string) => string {
  if (read === "library") {
    return (m) => {
      const h = m.headers;
      if (h === undefined) throw new Error("missing headers");
      return (name) => h.get(name);
    };
  }
  return (m) => {
    const pairs = rawHeaderPairs(m);
    return (name) => headerValue(pairs, name) ?? "";
  };
}

function natsHeadersResponder(build: HdrBuild, read: HdrRead) {
  const reader = headerReader(read);
  return (nc: NatsConnection, subject: string): Subscription =>
    serve(nc, subject, (m, reply) => {
      const get = reader(m);
      const path = get("Mesh-Path");
      const ct = get("Content-Type");
      const accept = get("Accept");
      const rid = get("X-Request-Id");
      check(path === PATH && ct === CONTENT_TYPE && accept === ACCEPT && rid !== "", "request headers");
      check(m.data.length === BODY_SIZE, "request body");
      if (build === "library") {
        const h = headers();
        h.set("Mesh-Status", "200");
        h.set("Content-Type", CONTENT_TYPE);
        h.set("X-Request-Id", rid);
        nc.publish(reply, BODY, { headers: h });
      } else {
        const h = new RawHdrs(["Mesh-Status", "200", "Content-Type", CONTENT_TYPE, "X-Request-Id", rid]);
        nc.publish(reply, BODY, { headers: h });
      }
    });
}

function natsHeadersClient(build: HdrBuild, read: HdrRead) {
  const reader = headerReader(read);
  return (nc: NatsConnection, subject: string): BenchClient => {
    const mux = new LeanMux(nc, TIMEOUT_MS);
    let seq = 0;
    return {
      call: async () => {
        const rid = String(++seq);
        let m: Msg;
        if (build === "library") {
          const h = headers();
          h.set("Mesh-Path", PATH);
          h.set("Content-Type", CONTENT_TYPE);
          h.set("Accept", ACCEPT);
          h.set("X-Request-Id", rid);
          m = await mux.request(subject, BODY, h);
        } else {
          const h = new RawHdrs([
            "Mesh-Path",
            PATH,
            "Content-Type",
            CONTENT_TYPE,
            "Accept",
            ACCEPT,
            "X-Request-Id",
            rid,
          ]);
          m = await mux.request(subject, BODY, h);
        }
        const get = reader(m);
        check(get("Mesh-Status") === "200", "status");
        check(get("Content-Type") === CONTENT_TYPE, "content-type");
        check(get("X-Request-Id") === rid, "request id");
        check(m.data.length === BODY_SIZE, "body");
      },
      close: () => mux.close(),
    };
  };
}

// ---------------------------------------------------------------------------------------------
// D / D2 / E: compact head inside the payload
// ---------------------------------------------------------------------------------------------

interface HeadCodec {
  /** frame flags byte, or null for "no magic prefix, flagged by a Mesh-Head NATS header" (D2) */
  flags: number | null;
  encReq(h: RequestHead): string;
  decReq(s: string): RequestHead;
  encRes(h: ResponseHead): string;
  decRes(s: string): ResponseHead;
}

const JSON_CODEC: HeadCodec = {
  flags: FLAG_JSON,
  encReq: jsonRequestHead,
  decReq: parseJsonRequestHead,
  encRes: jsonResponseHead,
  decRes: parseJsonResponseHead,
};
const JSON_CODEC_HDRFLAG: HeadCodec = { ...JSON_CODEC, flags: null };
const TEXT_CODEC: HeadCodec = {
  flags: FLAG_TEXT,
  encReq: textRequestHead,
  decReq: parseTextRequestHead,
  encRes: textResponseHead,
  decRes: parseTextResponseHead,
};

/** D2's single flag header, built per call the ordinary way. */
function meshHeadFlag() {
  const h = headers();
  h.set("Mesh-Head", "1");
  return h;
}

function payloadHeadResponder(codec: HeadCodec) {
  return (nc: NatsConnection, subject: string): Subscription =>
    serve(nc, subject, (m, reply) => {
      if (codec.flags === null) check(m.headers?.get("Mesh-Head") === "1", "Mesh-Head flag");
      const { head, body } = unframe(m.data, codec.flags);
      const req = codec.decReq(head);
      const rid = headerValue(req.headers, "x-request-id") ?? "";
      check(req.method === "GET" && req.path === PATH, "request line");
      check(
        headerValue(req.headers, "content-type") === CONTENT_TYPE &&
          headerValue(req.headers, "accept") === ACCEPT &&
          rid !== "",
        "request headers",
      );
      check(body.length === BODY_SIZE, "request body");
      const out = frame(
        codec.encRes({ status: 200, reason: "OK", headers: responseHeaders(rid) }),
        BODY,
        codec.flags,
      );
      nc.publish(reply, out, codec.flags === null ? { headers: meshHeadFlag() } : undefined);
    });
}

function payloadHeadClient(codec: HeadCodec) {
  return (nc: NatsConnection, subject: string): BenchClient => {
    const mux = new LeanMux(nc, TIMEOUT_MS);
    let seq = 0;
    return {
      call: async () => {
        const rid = String(++seq);
        const payload = frame(
          codec.encReq({ method: "GET", path: PATH, headers: requestHeaders(rid) }),
          BODY,
          codec.flags,
        );
        const m = await mux.request(subject, payload, codec.flags === null ? meshHeadFlag() : undefined);
        if (codec.flags === null) check(m.headers?.get("Mesh-Head") === "1", "Mesh-Head flag");
        const { head, body } = unframe(m.data, codec.flags);
        const res = codec.decRes(head);
        check(res.status === 200, "status");
        check(headerValue(res.headers, "content-type") === CONTENT_TYPE, "content-type");
        check(headerValue(res.headers, "x-request-id") === rid, "request id");
        check(body.length === BODY_SIZE, "body");
      },
      close: () => mux.close(),
    };
  };
}

// ---------------------------------------------------------------------------------------------

export const VARIANTS: readonly Variant[] = [
  {
    id: "A",
    desc: "nc.request(), library defaults (async traces on)",
    asyncTraces: true,
    respond: plainResponder,
    client: ncRequestClient,
  },
  {
    id: "A2",
    desc: "nc.request(), noAsyncTraces",
    asyncTraces: false,
    respond: plainResponder,
    client: ncRequestClient,
  },
  {
    id: "B",
    desc: "lean mux (wildcard inbox + Map + counter), body only",
    asyncTraces: false,
    respond: plainResponder,
    client: leanPlainClient,
  },
  {
    id: "C",
    desc: "B + head in NATS headers, headers() + msg.headers.get",
    asyncTraces: false,
    respond: natsHeadersResponder("library", "library"),
    client: natsHeadersClient("library", "library"),
  },
  {
    id: "C2",
    desc: "C, headers built by RawHdrs.encode() (read via msg.headers)",
    asyncTraces: false,
    respond: natsHeadersResponder("raw", "library"),
    client: natsHeadersClient("raw", "library"),
  },
  {
    id: "C3",
    desc: "C2 + raw header-block parse (MsgImpl private fields)",
    asyncTraces: false,
    respond: natsHeadersResponder("raw", "raw"),
    client: natsHeadersClient("raw", "raw"),
  },
  {
    id: "D",
    desc: "B + magic + u32 len + JSON head in payload, no NATS headers",
    asyncTraces: false,
    respond: payloadHeadResponder(JSON_CODEC),
    client: payloadHeadClient(JSON_CODEC),
  },
  {
    id: "D2",
    desc: "D, flagged by one NATS header (Mesh-Head: 1) instead of magic",
    asyncTraces: false,
    respond: payloadHeadResponder(JSON_CODEC_HDRFLAG),
    client: payloadHeadClient(JSON_CODEC_HDRFLAG),
  },
  {
    id: "E",
    desc: "D with text-line head (indexOf/slice) instead of JSON",
    asyncTraces: false,
    respond: payloadHeadResponder(TEXT_CODEC),
    client: payloadHeadClient(TEXT_CODEC),
  },
];

export function findVariant(id: string): Variant {
  const v = VARIANTS.find((x) => x.id === id);
  if (!v) throw new Error(`unknown variant ${id}`);
  return v;
}
