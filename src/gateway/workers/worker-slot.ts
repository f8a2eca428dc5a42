/**
 * One worker of a gateway cluster, seen from the primary: forks the process, hands it the
 * configuration, waits until it listens, asks it questions, stops it. A slot outlives its processes:
 * when one dies the cluster forks the next in the same slot.
 *
 * @module
 */
import cluster, { type Worker } from "node:cluster";
import { GatewayConfigError, GatewayWorkerError } from "../errors.js";
import {
  type AnswerMessage,
  type AskMessage,
  isGatewayMessage,
  type ListeningMessage,
  type PrimaryMessage,
  type StartMessage,
  type WireError,
  type WorkerMessage,
} from "./cluster-messages.js";

/** How a worker process ended. */
export interface WorkerExit {
  /** Its process id. */
  pid: number | undefined;
  /** Exit code, or `null` when a signal ended it. */
  code: number | null;
  /** The signal that ended it, if any. */
  signal: NodeJS.Signals | null;
  /** How long it ran, in milliseconds. */
  livedMs: number;
}

interface Pending {
  resolve: (answer: AnswerMessage) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

let nextAsk = 0;

function rebuild(error: WireError, worker: number, pid: number | undefined): Error {
  if (error.name === "GatewayConfigError" && error.where !== undefined && error.problem !== undefined)
    return new GatewayConfigError(error.where, error.problem);
  return new GatewayWorkerError(error.message, {
    worker,
    pid,
    errorName: error.name,
    code: error.code,
    status: error.status,
  });
}

/**
 * A worker slot: at most one live process at a time.
 *
 * @example
 * ```ts
 * const slot = new WorkerSlot(1, { worker: 1, options: {}, from });
 * await slot.spawn();          // forked, listening
 * await slot.ask("ready", 1000);
 * slot.stop(); await slot.exited;
 * ```
 */
export class WorkerSlot {
  /** The worker's number, from 1. */
  readonly index: number;
  readonly #start: Omit<StartMessage, "natsmeshGateway">;
  readonly #pending = new Map<number, Pending>();
  #worker: Worker | undefined;
  #listening = false;
  #stopping = false;
  #exited: Promise<WorkerExit> = Promise.resolve({ pid: undefined, code: 0, signal: null, livedMs: 0 });

  /**
   * @param index - the worker's number, from 1
   * @param start - what its processes are started with
   * @example
   * ```ts
   * new WorkerSlot(2, { worker: 2, options: { listen: "127.0.0.1:8080" }, from });
   * ```
   */
  constructor(index: number, start: Omit<StartMessage, "natsmeshGateway">) {
    this.index = index;
    this.#start = start;
  }

  /** The live process's id, if any. */
  get pid(): number | undefined {
    return this.#worker?.process.pid;
  }

  /** Whether a process of this slot is running (forked and not exited). */
  get alive(): boolean {
    const p = this.#worker?.process;
    return p !== undefined && p.exitCode === null && p.signalCode === null;
  }

  /** Whether the live process listens and has not exited. */
  get listening(): boolean {
    return this.#listening;
  }

  /** Settles when the latest process exits (at once when none was forked). */
  get exited(): Promise<WorkerExit> {
    return this.#exited;
  }

  /**
   * Forks a process (node:cluster's current settings) and resolves once it listens.
   *
   * @returns what it reported
   * @throws {@link GatewayWorkerError} or {@link GatewayConfigError} with the worker's own message when
   *   it fails to start, or a GatewayWorkerError when it exits before it listens
   * @example
   * ```ts
   * const { url } = await slot.spawn();
   * ```
   */
  spawn(): Promise<ListeningMessage> {
    const worker = cluster.fork();
    const pid = worker.process.pid;
    const started = Date.now();
    this.#worker = worker;
    this.#listening = false;
    worker.on("error", () => {}); // a send on a closed channel; the exit follows
    let settle: { resolve: (m: ListeningMessage) => void; reject: (e: Error) => void } | undefined;
    const listening = new Promise<ListeningMessage>((resolve, reject) => {
      settle = { resolve, reject };
    });
    let failure: Error | undefined;
    this.#exited = new Promise<WorkerExit>((resolve) => {
      worker.once("exit", (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.#worker === worker) this.#listening = false;
        for (const [id, p] of this.#pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`gateway worker ${this.index} (pid ${pid}) exited`));
          this.#pending.delete(id);
        }
        settle?.reject(
          failure ??
            new GatewayWorkerError(
              `gateway worker ${this.index} (pid ${pid}) exited with ${signal ?? `code ${code}`} before it listened`,
              { worker: this.index, pid, errorName: "Exit" },
            ),
        );
        settle = undefined;
        resolve({ pid, code, signal, livedMs: Date.now() - started });
      });
    });
    worker.on("message", (message: unknown) => {
      if (!isGatewayMessage<WorkerMessage>(message)) return;
      switch (message.natsmeshGateway) {
        case "hello":
          this.#send(
            worker,
            this.#stopping ? { natsmeshGateway: "stop" } : { natsmeshGateway: "start", ...this.#start },
          );
          break;
        case "listening":
          this.#listening = true;
          settle?.resolve(message);
          settle = undefined;
          break;
        case "failed":
          failure = rebuild(message.error, this.index, pid);
          break;
        case "answer": {
          const p = this.#pending.get(message.id);
          if (p) {
            clearTimeout(p.timer);
            this.#pending.delete(message.id);
            p.resolve(message);
          }
          break;
        }
      }
    });
    return listening;
  }

  /**
   * Asks the live, listening process for its readiness or its metrics.
   *
   * @param what - `ready` or `metrics`
   * @param timeoutMs - how long to wait for the answer
   * @returns the answer
   * @throws Error when no process listens, it exits first, or it does not answer in time
   * @example
   * ```ts
   * const { notReady } = await slot.ask("ready", 1000);
   * ```
   */
  ask(what: AskMessage["what"], timeoutMs: number): Promise<AnswerMessage> {
    const worker = this.#worker;
    if (!worker || !this.#listening || !worker.isConnected())
      return Promise.reject(new Error(`gateway worker ${this.index} is not listening`));
    const id = nextAsk++;
    return new Promise<AnswerMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`gateway worker ${this.index} (pid ${this.pid}) did not answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#send(worker, { natsmeshGateway: "ask", id, what });
    });
  }

  /**
   * Tells the live process (and any forked later) to close gracefully and exit; {@link WorkerSlot.exited}
   * settles then.
   *
   * @example
   * ```ts
   * slot.stop();
   * await slot.exited;
   * ```
   */
  stop(): void {
    this.#stopping = true;
    if (this.#worker) this.#send(this.#worker, { natsmeshGateway: "stop" });
  }

  /**
   * Ends the live process at once (SIGKILL).
   *
   * @example
   * ```ts
   * slot.kill();
   * ```
   */
  kill(): void {
    if (this.alive) this.#worker!.process.kill("SIGKILL");
  }

  #send(worker: Worker, message: PrimaryMessage): void {
    if (worker.isConnected()) worker.send(message, undefined, () => {});
  }
}
