/**
 * The working side of durable requests (`serve(handler, { durable })`, PROTOCOL.md §13.3): a pull
 * consumer on the service's stream whose messages run through the instance's handler under the same
 * concurrency limit as live requests; a message is acknowledged only once its outcome is stored.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { setTimeout as sleep } from "node:timers/promises";
import type { ConsumerMessages, JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import {
  backoffAfter,
  CONSUMER_NAME,
  type DurableOptions,
  type DurableRecord,
  DurableState,
  type DurableStore,
  fingerprint,
  parseDurableSubject,
  streamName,
} from "../durable/index.js";
import {
  headerValue,
  MeshHeader,
  readRequest,
  type WireRequest,
  type WireResponse,
} from "../protocol/index.js";
import { errorResponse } from "./adapters/errors.js";
import type { WireHandler } from "./adapters/types.js";
import { type CallbackOutcome, callbackOf, deliverCallback } from "./durable-callback.js";
import type { RequestControl } from "./exchange.js";

/** Milliseconds a pull request lasts, and between the server's heartbeats on it. */
const PULL_EXPIRES_MS = 10_000;
const PULL_HEARTBEAT_MS = 2_000;

/** Pauses before the second, third and fourth try of a record write. */
const WRITE_RETRY_MS = [100, 400, 1600] as const;

/** What a {@link DurableWorker} needs. */
export interface DurableWorkerParts {
  service: string;
  instance: string;
  prefix: string;
  store: DurableStore;
  settings: Required<DurableOptions>;
  /** The instance's handler (the one live requests run). */
  wire: WireHandler;
  /** The instance's handler timeout in ms (0: none); past it an attempt fails. */
  timeout: number;
  /** Runs a task under the instance's concurrency limit (shared with live requests). */
  schedule: (task: (release: () => void) => void) => void;
  log: Logger;
}

/** One message taken from the stream and not yet settled. */
interface Taken {
  msg: JsMsg;
  /** Sends "in progress" to JetStream while the message waits for a slot and runs. */
  keep: NodeJS.Timeout;
  /** Whether its attempt has started (a slot was free). */
  started: boolean;
}

/**
 * Works a service's durable requests. {@link start} makes sure of the stream, the consumer and the
 * bucket (and fails, naming JetStream, when it is not enabled); {@link stop} takes no more messages,
 * gives back those not started (at once to another instance) and lets started ones finish.
 */
export class DurableWorker {
  readonly #p: DurableWorkerParts;
  readonly #taken = new Set<Taken>();
  #messages: ConsumerMessages | undefined;
  #stopped = false;

  constructor(parts: DurableWorkerParts) {
    this.#p = parts;
  }

  /**
   * Starts taking requests.
   *
   * @throws MeshError `NM_ERR_DURABLE_UNAVAILABLE` when JetStream is not enabled or cannot be reached.
   */
  async start(): Promise<void> {
    const { store, settings, service, prefix } = this.#p;
    await store.ensure(service, settings);
    const consumer = await store.client().consumers.get(streamName(prefix, service), CONSUMER_NAME);
    this.#messages = await consumer.consume({
      max_messages: settings.prefetch,
      // Server heartbeats every PULL_HEARTBEAT_MS: after a lost node or a new consumer leader, two
      // missed ones make the client pull again (nats.js's default waits 30 s per pull).
      expires: PULL_EXPIRES_MS,
      idle_heartbeat: PULL_HEARTBEAT_MS,
      callback: (msg) => this.#take(msg),
    });
  }

  /** Takes no more requests; the ones not started go back to the stream for another instance. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    void this.#messages?.stop();
    for (const t of this.#taken) {
      if (t.started) continue;
      this.#settle(t);
      nak(t.msg);
    }
  }

  #take(msg: JsMsg): void {
    if (this.#stopped) {
      nak(msg);
      return;
    }
    const interval = Math.max(100, Math.floor(this.#p.settings.ackWait / 3));
    const t: Taken = { msg, keep: setInterval(() => inProgress(msg), interval), started: false };
    t.keep.unref();
    this.#taken.add(t);
    this.#p.schedule((release) => {
      if (this.#stopped && !t.started && !this.#taken.has(t)) {
        release(); // given back by stop()
        return;
      }
      t.started = true;
      this.#attempt(t)
        .catch((err: unknown) => {
          // A store that failed: the message is worked again after its backoff (at least once).
          this.#p.log.error({ err, subject: msg.subject }, "durable request: could not store its outcome");
          this.#settle(t);
          nak(msg, backoffAfter(this.#p.settings.backoff, msg.info.deliveryCount));
        })
        .finally(release);
    });
  }

  #settle(t: Taken): void {
    clearInterval(t.keep);
    this.#taken.delete(t);
  }

  async #attempt(t: Taken): Promise<void> {
    const { msg } = t;
    const { settings, log } = this.#p;
    const n = msg.info.deliveryCount;
    const names = parseDurableSubject(msg.subject);
    if (names === undefined) {
      log.error({ subject: msg.subject }, "durable request on a subject of another shape: dropped");
      this.#settle(t);
      await msg.ackAck();
      return;
    }
    const { id } = names;
    const parsed = decode(msg.data, names.method);
    if (typeof parsed === "string") {
      await this.#dead(t, id, { method: "", path: "" }, n, `malformed request: ${parsed}`);
      return;
    }
    const req = parsed;
    if (n > 1 && (await this.#finished(id))) {
      // Delivered again after its outcome was stored (the acknowledgement was lost, or its instance
      // died in between): it is not run again.
      this.#settle(t);
      await msg.ackAck();
      return;
    }
    if (n > settings.maxDeliveries) {
      const error = `attempt ${n - 1} was given up: its instance stopped answering for ackWait (${settings.ackWait} ms)`;
      await this.#dead(t, id, req, n - 1, error);
      return;
    }
    // The running record only informs the status resource: a store that fails here does not keep
    // the handler from running (its answer's write is the one that must succeed).
    await this.#p.store
      .write(this.#p.service, id, {
        ...this.#base(req, n, DurableState.Running),
        started: new Date().toISOString(),
      })
      .catch((err: unknown) => log.warn({ err, id }, "durable request: could not record that it runs"));
    const res = await this.#run(req);
    const error = headerValue(res.headers, MeshHeader.Error);
    if (error === undefined && res.body.byteLength > settings.maxAnswer) {
      const why = `the answer (${res.status}, ${res.body.byteLength} bytes) is larger than durable.maxAnswer (${settings.maxAnswer} bytes)`;
      await this.#dead(t, id, req, n, why);
      return;
    }
    if (error === undefined) {
      await this.#write(id, { ...this.#base(req, n, DurableState.Done), status: res.status, answer: res });
      this.#settle(t);
      await msg.ackAck();
      this.#callback(req, {
        id,
        service: this.#p.service,
        state: DurableState.Done,
        attempts: n,
        answer: res,
      });
      return;
    }
    const why = `${res.status} ${error}: ${errorMessage(res)}`;
    if (n >= settings.maxDeliveries) {
      await this.#dead(t, id, req, n, why);
      return;
    }
    await this.#write(id, { ...this.#base(req, n, DurableState.Queued), error: why });
    this.#settle(t);
    nak(msg, backoffAfter(settings.backoff, n));
    log.warn({ id, attempt: n, error: why }, "durable request: attempt failed; it will be tried again");
  }

  async #dead(
    t: Taken,
    id: string,
    req: Pick<WireRequest, "method" | "path"> | WireRequest,
    attempts: number,
    error: string,
  ): Promise<void> {
    await this.#write(id, { ...this.#base(req, attempts, DurableState.Dead), error, request: t.msg.data });
    this.#settle(t);
    // Acknowledged, not termed: nats-server 2.9 keeps a termed message in a work-queue stream, where
    // it would hold its bytes forever; the dead letter's record keeps the request for a retry.
    await t.msg.ackAck();
    this.#p.log.error({ id, attempts, error }, "durable request: dead letter");
    if ("headers" in req)
      this.#callback(req, { id, service: this.#p.service, state: DurableState.Dead, attempts, error });
  }

  /** Whether request `id` has a stored outcome (done or dead); a store that fails says no. */
  async #finished(id: string): Promise<boolean> {
    const known = await this.#p.store.lookup(this.#p.service, id).catch(() => undefined);
    return known?.state === DurableState.Done || known?.state === DurableState.Dead;
  }

  /** Sends the outcome to the request's callback URL, if it names one the instance allows; in the background. */
  #callback(req: WireRequest, outcome: CallbackOutcome): void {
    const url = callbackOf(req, this.#p.settings.callbacks);
    if (url === undefined) return;
    void deliverCallback(url, outcome, this.#p.log, () => this.#stopped);
  }

  #base(req: Pick<WireRequest, "method" | "path">, attempts: number, state: DurableState): DurableRecord {
    const body = (req as Partial<WireRequest>).body;
    return {
      state,
      attempts,
      instance: this.#p.instance,
      method: req.method,
      path: req.path,
      fingerprint: body === undefined ? undefined : fingerprint(req.method, req.path, body),
      updated: new Date().toISOString(),
    };
  }

  /**
   * Writes a record, trying again after {@link WRITE_RETRY_MS} while the store fails (a JetStream
   * leader election, a node lost): the message stays in progress meanwhile, and a handler that ran
   * is not run again for want of one write. The last failure is thrown (the message is then nak'ed).
   */
  async #write(id: string, record: DurableRecord): Promise<void> {
    for (let i = 0; ; i++) {
      try {
        await this.#p.store.write(this.#p.service, id, record);
        return;
      } catch (err) {
        if (i >= WRITE_RETRY_MS.length || this.#stopped) throw err;
        this.#p.log.warn(
          { err, id, retryMs: WRITE_RETRY_MS[i] },
          "durable request: a record write failed; trying again",
        );
        await sleep(WRITE_RETRY_MS[i]);
      }
    }
  }

  /** Runs the handler within the instance's timeout; its answer's body is read whole. */
  async #run(req: WireRequest): Promise<WireResponse> {
    const { wire, timeout, service, log } = this.#p;
    const abort = new AbortController();
    const control: RequestControl = {
      signal: abort.signal,
      onAbort: (listener) =>
        abort.signal.addEventListener("abort", () => listener(abort.signal.reason as Error)),
    };
    const ctx = { service, onError: (err: unknown) => log.error({ err }, "durable request: handler failed") };
    let timer: NodeJS.Timeout | undefined;
    const answer = wire(req, ctx, control).then(readWhole);
    const late = new Promise<WireResponse>((resolve) => {
      if (timeout <= 0) return;
      timer = setTimeout(() => {
        abort.abort(new Error("the handler timed out"));
        resolve(errorResponse(504, "NM_ERR_TIMEOUT", `the handler took longer than ${timeout} ms`));
      }, timeout);
    });
    try {
      return await Promise.race([answer, late]);
    } catch (err) {
      ctx.onError(err);
      return errorResponse(500, "NM_ERR_HANDLER", "the answer's body failed while it was read");
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Tells JetStream the message is in progress; on a closed connection there is no one to tell. */
function inProgress(msg: JsMsg): void {
  try {
    msg.working();
  } catch {
    // The connection closed: the message is delivered again after its ack wait.
  }
}

/** Gives the message back (after `delay` ms); on a closed connection it comes back after its ack wait. */
function nak(msg: JsMsg, delay?: number): void {
  try {
    msg.nak(delay);
  } catch {
    // The connection closed: the message is delivered again after its ack wait.
  }
}

/** The request of a stored message, or why it is malformed (PROTOCOL.md §13.3 step 2). */
function decode(data: Uint8Array, methodToken: string): WireRequest | string {
  let req: WireRequest | string;
  try {
    req = readRequest(data);
  } catch (err) {
    return String(err);
  }
  if (typeof req === "string") return req;
  if (req.streamed) return "a streamed request head cannot be stored";
  if (req.method.toLowerCase() !== methodToken)
    return `method ${req.method} does not match subject token '${methodToken}'`;
  return req;
}

async function readWhole(res: WireResponse): Promise<WireResponse> {
  if (res.stream === undefined) return res;
  const parts: Uint8Array[] = res.body.byteLength > 0 ? [res.body] : [];
  const reader = res.stream.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) parts.push(r.value);
  return { ...res, body: Buffer.concat(parts), stream: undefined };
}

/** The `error` of natsmesh's JSON error body, or empty. */
function errorMessage(res: WireResponse): string {
  try {
    const parsed = JSON.parse(Buffer.from(res.body).toString()) as { error?: unknown };
    return typeof parsed.error === "string" ? parsed.error : "";
  } catch {
    return "";
  }
}
