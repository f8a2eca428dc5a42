import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The same small API written twice, as a Fetch handler and as a Node listener, so one conformance
 * suite checks both adapters:
 * - `/echo`: 200; body = request body; `x-echo-method`, `x-echo-path`, `x-echo-headers` (URI-encoded
 *   JSON of the header pairs: as the Fetch API lists them, or Node's `rawHeaders` with their case)
 *   describe the request.
 * - `/status/<code>`: that status, status text `Custom <code>`, body `status <code>`.
 * - `/multi`: two `set-cookie` and two `x-multi` header values.
 * - `/throw`: the handler throws an error whose message must never reach the caller.
 * - `/slow?ms=N`: answers after N ms.
 * - `/bytes?n=N`: N bytes (the byte values 0..255 repeating).
 * - `/whoami`: the instance label given to the factory.
 */
const NULL_BODY = new Set([204, 205, 304]);
export const SECRET = "secret-internal-detail";

export function bytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = i % 256;
  return out;
}

function statusOf(path: string): number | undefined {
  const m = /^\/status\/(\d{3})$/.exec(path);
  return m ? Number(m[1]) : undefined;
}

/** The API as a Fetch handler. */
export function fetchApp(label = "fetch"): (req: Request) => Promise<Response> {
  return async (req: Request) => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path === "/echo") {
      const body = new Uint8Array(await req.arrayBuffer());
      const pairs: string[] = [];
      for (const [k, v] of req.headers) pairs.push(k, v);
      return new Response(body.byteLength ? body : null, {
        headers: {
          "x-echo-method": req.method,
          "x-echo-path": `${url.pathname}${url.search}`,
          "x-echo-headers": encodeURIComponent(JSON.stringify(pairs)),
        },
      });
    }
    const status = statusOf(path);
    if (status !== undefined) {
      return new Response(NULL_BODY.has(status) ? null : `status ${status}`, {
        status,
        statusText: `Custom ${status}`,
      });
    }
    if (path === "/multi") {
      const headers = new Headers();
      headers.append("set-cookie", "a=1; Path=/");
      headers.append("set-cookie", "b=2; Path=/");
      headers.append("x-multi", "one");
      headers.append("x-multi", "two");
      return new Response("multi", { headers });
    }
    if (path === "/throw") throw new Error(SECRET);
    if (path === "/slow") {
      await new Promise((r) => setTimeout(r, Number(url.searchParams.get("ms") ?? 100)));
      return new Response("slow");
    }
    if (path === "/bytes") return new Response(bytes(Number(url.searchParams.get("n") ?? 0)));
    if (path === "/whoami") return new Response(label);
    return new Response("not found", { status: 404 });
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** The API as a Node `(req, res)` listener. */
export function nodeApp(label = "node"): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const path = url.pathname;
    if (path === "/echo") {
      const body = await readBody(req);
      const pairs: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2)
        pairs.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
      res.setHeader("x-echo-method", req.method ?? "");
      res.setHeader("x-echo-path", req.url ?? "");
      res.setHeader("x-echo-headers", encodeURIComponent(JSON.stringify(pairs)));
      res.end(body);
      return;
    }
    const status = statusOf(path);
    if (status !== undefined) {
      res.writeHead(status, `Custom ${status}`);
      res.end(NULL_BODY.has(status) ? undefined : `status ${status}`);
      return;
    }
    if (path === "/multi") {
      res.setHeader("set-cookie", ["a=1; Path=/", "b=2; Path=/"]);
      res.setHeader("x-multi", ["one", "two"]);
      res.end("multi");
      return;
    }
    if (path === "/throw") throw new Error(SECRET);
    if (path === "/slow") {
      await new Promise((r) => setTimeout(r, Number(url.searchParams.get("ms") ?? 100)));
      res.end("slow");
      return;
    }
    if (path === "/bytes") {
      res.end(Buffer.from(bytes(Number(url.searchParams.get("n") ?? 0))));
      return;
    }
    if (path === "/whoami") {
      res.end(label);
      return;
    }
    res.statusCode = 404;
    res.end("not found");
  };
}
