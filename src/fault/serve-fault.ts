/**
 * Fault injection beyond dropping: a responder on a fault subject (where a canary mapping sends a
 * share of a service's requests) that answers with a chosen status, or waits a chosen latency and
 * forwards the request unchanged to the real instances under another prefix, through the client's
 * request path (`callService`).
 *
 * @module
 */
import { createInbox, type Msg, type NatsConnection, nuid, type Subscription } from "@nats-io/nats-core";
import { callService } from "../client/call.js";
import { type AnyConnection, natsConnectionOf } from "../connect/index.js";
import {
  assertPrefix,
  assertServiceName,
  decodeRequest,
  encodeFrame,
  encodeResponse,
  FrameKind,
  MeshError,
  MeshHeader,
  serviceSubject,
  type WireRequest,
} from "../protocol/index.js";
import { DEFAULT_FAULT_PREFIX } from "../traffic/mappings.js";

/**
 * Options of {@link serveFault}.
 *
 * @example
 * ```ts
 * // Answer the fault share of "orders" with 503 after 200 ms:
 * const fault = await serveFault({ nc, service: "orders", status: 503, delay: 200 });
 * // Or delay it by 2 s and forward it to the real instances on prefix "mesh":
 * const slow = await serveFault({ nc, service: "orders", delay: 2_000, forward: "mesh", timeout: 30_000 });
 * ```
 */
export interface FaultOptions {
  /** The connection to serve on: a nats.js connection, or `connect()`'s result. */
  nc: AnyConnection;
  /** The service whose share this answers, e.g. `weather`. */
  service: string;
  /** Prefix of the fault subject it serves (default {@link DEFAULT_FAULT_PREFIX}). */
  prefix?: string;
  /** Answer every request with this status (after `delay`, if any) instead of forwarding. */
  status?: number;
  /** Milliseconds to wait before answering or forwarding (default 0). */
  delay?: number;
  /** Prefix the real instances serve with, where delayed requests are forwarded (needed without `status`). */
  forward?: string;
  /** Deadline of a forwarded call in milliseconds (default 30 000). */
  timeout?: number;
}

/**
 * A running fault responder.
 *
 * @example
 * ```ts
 * await using fault = await serveFault({ nc, service: "orders", status: 500 });
 * // ... run the experiment ...
 * console.log(`${fault.received} requests on ${fault.subject}`);
 * ```
 */
export interface FaultHandle extends AsyncDisposable {
  /** The subject it serves, e.g. `natsmesh-fault.weather.*`. */
  readonly subject: string;
  /** Its instance id, sent as `mesh-instance` on the answers it makes itself. */
  readonly instance: string;
  /** Requests received so far. */
  readonly received: number;
  /** Leaves the queue group, lets requests in flight finish (delays included), and resolves. */
  stop(): Promise<void>;
}

/**
 * Header on the answers a fault responder makes itself, saying what it injected.
 *
 * @example
 * ```ts
 * const res = await fetch("http://weather.nats/city?q=london");
 * if (res.headers.has(FAULT_HEADER)) console.log("injected:", res.headers.get(FAULT_HEADER));
 * ```
 */
export const FAULT_HEADER = "x-natsmesh-fault";

class FaultResponder implements FaultHandle {
  readonly subject: string;
  readonly instance = nuid.next();
  received = 0;
  readonly #nc: NatsConnection;
  readonly #o: FaultOptions;
  readonly #sub: Subscription;
  readonly #inFlight = new Set<Promise<void>>();
  /** Handed to callers as the exchange subject of heartbeats (PROTOCOL.md §8.3); nothing listens on it. */
  readonly #exchangeInbox = createInbox();
  #exchanges = 0;
  #stopping: Promise<void> | undefined;

  constructor(o: FaultOptions, prefix: string) {
    this.#nc = natsConnectionOf(o.nc);
    this.#o = o;
    this.subject = serviceSubject(prefix, o.service);
    this.#sub = this.#nc.subscribe(this.subject, {
      queue: `${prefix}.${o.service}`,
      callback: (err, msg) => {
        if (err) return;
        const p = this.#handle(msg).finally(() => this.#inFlight.delete(p));
        this.#inFlight.add(p);
      },
    });
  }

  async #handle(msg: Msg): Promise<void> {
    this.received++;
    const reply = msg.reply;
    if (!reply) return;
    const { delay = 0, status, service } = this.#o;
    let req: WireRequest;
    try {
      req = decodeRequest(msg.data, { service, subject: msg.subject });
    } catch (err) {
      this.#answer(reply, 400, (err as Error).message, "malformed");
      return;
    }
    // The caller gives up after twice its heartbeat interval of silence: keep it informed.
    const beating = this.#heartbeat(reply, req.heartbeat);
    try {
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      if (this.#nc.isClosed()) return;
      if (status !== undefined) {
        this.#answer(reply, status, `fault injected: status ${status}`, `status=${status}`);
        return;
      }
      if (req.streamed) {
        this.#answer(
          reply,
          502,
          "a fault responder cannot forward a streamed request body",
          "forward-failed",
        );
        return;
      }
      await this.#forward(reply, msg.subject, req);
    } finally {
      if (beating) clearInterval(beating);
    }
  }

  /** Sends the request on to the real instances through the client's request path and relays their answer. */
  async #forward(reply: string, from: string, req: WireRequest): Promise<void> {
    const { service, timeout = 30_000 } = this.#o;
    const token = from.slice(from.lastIndexOf(".") + 1);
    if (req.method.toLowerCase() !== token) {
      // A call goes to its method's subject: answer what an instance (serve()) answers such a request.
      this.#answer(reply, 400, `method ${req.method} does not match subject token '${token}'`, "malformed");
      return;
    }
    // Without the caller's mesh-window/mesh-heartbeat: the instance answers in one message.
    const plain: WireRequest = { method: req.method, path: req.path, headers: req.headers, body: req.body };
    try {
      const res = await callService(this.#nc, service, plain, {
        prefix: this.#o.forward!,
        timeout,
        heartbeat: 0,
        window: 0,
      });
      this.#nc.publish(reply, encodeResponse(res));
    } catch (err) {
      const e = err instanceof MeshError ? err : undefined;
      this.#answer(
        reply,
        e?.status ?? 502,
        e?.message ?? "fault responder could not forward",
        "forward-failed",
      );
    }
  }

  /** Sends `credit 0` heartbeats to `reply` every half `heartbeat` ms, as an instance must (PROTOCOL.md §8.4). */
  #heartbeat(reply: string, heartbeat: number | undefined): NodeJS.Timeout | undefined {
    if (heartbeat === undefined || heartbeat <= 0) return undefined;
    const exchange = `${this.#exchangeInbox}.${(++this.#exchanges).toString(36)}`;
    const beat = encodeFrame(FrameKind.Credit, 0);
    return setInterval(() => {
      try {
        if (!this.#nc.isClosed()) this.#nc.publish(reply, beat, { reply: exchange });
      } catch {
        // closed meanwhile
      }
    }, heartbeat / 2);
  }

  #answer(reply: string, status: number, message: string, fault: string): void {
    const body = Buffer.from(JSON.stringify({ error: message, status }));
    const headers = [
      "content-type",
      "application/json",
      FAULT_HEADER,
      fault,
      MeshHeader.Service,
      this.#o.service,
      MeshHeader.Instance,
      this.instance,
    ];
    try {
      this.#nc.publish(reply, encodeResponse({ status, statusText: "", headers, body }));
    } catch {
      // the connection closed meanwhile: the caller learns it from its own connection
    }
  }

  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      if (!this.#nc.isClosed()) await this.#sub.drain().catch(() => undefined);
      await Promise.all([...this.#inFlight]);
      if (!this.#nc.isClosed()) await this.#nc.flush().catch(() => undefined);
    })();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/**
 * Serves a fault subject: every request it gets is answered with `status`, or delayed by `delay`
 * milliseconds and forwarded with its method, path, headers and body unchanged to
 * `<forward>.<service>.<method>` (through `callService`, as one message each way), whose answer's
 * status, headers and body go back unchanged too. Pair it with a canary mapping's fault share
 * (`natsmesh canary weather --split v1=90 --fault 10`) so that only that share is affected.
 *
 * @param options - connection, service, fault prefix, and what to inject
 * @returns the running responder, once its subscription reached the server
 * @throws RangeError when neither `status` nor `forward` is given, `status` is not 100..599, or
 *   `delay`/`timeout` are negative; `InvalidServiceError` for a bad service or prefix
 * @example
 * ```ts
 * // 10% of weather's requests wait 200 ms longer, then reach the v1 instances:
 * const fault = await serveFault({ nc, service: "weather", delay: 200, forward: "v1" });
 * // ...
 * await fault.stop();
 * ```
 */
export async function serveFault(options: FaultOptions): Promise<FaultHandle> {
  const { status, delay = 0, forward, timeout = 30_000 } = options;
  assertServiceName(options.service);
  const prefix = assertPrefix(options.prefix ?? DEFAULT_FAULT_PREFIX);
  if (status !== undefined && (!Number.isInteger(status) || status < 100 || status > 599))
    throw new RangeError(`fault status must be an HTTP status from 100 to 599, got ${status}`);
  if (status === undefined && forward === undefined)
    throw new RangeError("a fault responder needs a status to answer or a prefix to forward to");
  if (forward !== undefined) assertPrefix(forward);
  if (!Number.isFinite(delay) || delay < 0) throw new RangeError(`fault delay must be ≥ 0 ms, got ${delay}`);
  if (!Number.isFinite(timeout) || timeout < 0)
    throw new RangeError(`fault timeout must be ≥ 0 ms, got ${timeout}`);
  const responder = new FaultResponder(options, prefix);
  await natsConnectionOf(options.nc).flush();
  return responder;
}
