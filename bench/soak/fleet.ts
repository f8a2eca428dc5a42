/**
 * The soak's service instances: one child process per slot (`instance.ts` through tsx, natsmesh
 * from dist/), supervised. The soak kills, stops and freezes them on purpose; any other exit is an
 * unexpected death, recorded and followed by a new process in the slot (as a supervisor would).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("./instance.ts", import.meta.url));
const READY_TIMEOUT_MS = 60_000;

/** A process that exited without the soak asking it to. */
export interface UnexpectedDeath {
  /** `instance-2`, `gateway`, `nats-1`. */
  role: string;
  pid: number;
  /** Exit code or signal. */
  exit: string;
  /** Milliseconds since the run's start. */
  atMs: number;
}

interface Slot {
  role: string;
  generation: number;
  child: ChildProcess | undefined;
  /** Set before the soak signals it, so its exit is not counted as unexpected. */
  expectingExit: boolean;
  exited: Promise<void>;
}

/** What {@link Fleet} needs to start an instance. */
export interface FleetSettings {
  natsUrls: string[];
  /** Run directory: execution logs and the instances' stderr go here. */
  dir: string;
  env: Record<string, string>;
  serveOptions: string | undefined;
  /** The run's clock: milliseconds since its start. */
  clock: () => number;
}

/** The supervised instances. */
export class Fleet {
  private readonly slots: Slot[];
  private readonly stderr: WriteStream;
  private closing = false;
  /** Unexpected exits so far. */
  readonly deaths: UnexpectedDeath[] = [];
  /** Processes started in all (first generation included). */
  started = 0;

  constructor(
    count: number,
    private readonly settings: FleetSettings,
  ) {
    this.slots = Array.from({ length: count }, (_, i) => ({
      role: `instance-${i + 1}`,
      generation: 0,
      child: undefined,
      expectingExit: false,
      exited: Promise.resolve(),
    }));
    this.stderr = createWriteStream(join(settings.dir, "instances.stderr.log"));
  }

  /** Number of slots. */
  get size(): number {
    return this.slots.length;
  }

  /** Roles and current pids, for the memory sampler. */
  pids(): Array<{ role: string; pid: number | undefined }> {
    return this.slots.map((s) => ({ role: s.role, pid: this.alive(s) ? s.child?.pid : undefined }));
  }

  /** Every execution log written so far (one per process generation). */
  readonly execLogs: string[] = [];

  /** Starts every slot and waits until all are subscribed. */
  async startAll(): Promise<void> {
    await Promise.all(this.slots.map((s) => this.startSlot(s)));
  }

  /** SIGKILLs slot `i`, waits `restartMs`, starts it again and waits until it is ready. */
  async kill(i: number, restartMs: number): Promise<void> {
    const slot = this.slot(i);
    await this.signalAndWait(slot, "SIGKILL");
    await new Promise((r) => setTimeout(r, restartMs));
    await this.startSlot(slot);
  }

  /** SIGTERMs slot `i` (it drains), waits for its exit, starts it again and waits until it is ready. */
  async replace(i: number): Promise<void> {
    const slot = this.slot(i);
    await this.signalAndWait(slot, "SIGTERM");
    await this.startSlot(slot);
  }

  /** SIGSTOPs slot `i` for `ms`, then SIGCONTs it. @returns the times of both signals. */
  async freeze(i: number, ms: number): Promise<{ stoppedAtMs: number; continuedAtMs: number }> {
    const child = this.slot(i).child!;
    const stoppedAtMs = this.settings.clock();
    child.kill("SIGSTOP");
    await new Promise((r) => setTimeout(r, ms));
    const continuedAtMs = this.settings.clock();
    child.kill("SIGCONT");
    return { stoppedAtMs, continuedAtMs };
  }

  /** True when slot `i` has a running process. */
  isRunning(i: number): boolean {
    return this.alive(this.slot(i));
  }

  /** SIGTERMs every instance (they drain) and waits for them; SIGKILL after 15 s. */
  async stopAll(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.slots.map(async (s) => {
        const timer = setTimeout(() => s.child?.kill("SIGKILL"), 15_000);
        await this.signalAndWait(s, "SIGTERM");
        clearTimeout(timer);
      }),
    );
    this.stderr.end();
  }

  /** SIGKILLs every instance at once, e.g. when the soak itself is interrupted. */
  killAllSync(): void {
    this.closing = true;
    for (const s of this.slots) if (this.alive(s)) s.child!.kill("SIGKILL");
  }

  private slot(i: number): Slot {
    const slot = this.slots[i % this.slots.length];
    if (!slot) throw new Error(`no instance slot ${i}`);
    return slot;
  }

  private alive(s: Slot): boolean {
    return !!s.child && s.child.exitCode === null && s.child.signalCode === null;
  }

  private async signalAndWait(slot: Slot, signal: NodeJS.Signals): Promise<void> {
    if (!this.alive(slot)) return;
    slot.expectingExit = true;
    slot.child!.kill(signal);
    await slot.exited;
  }

  private async startSlot(slot: Slot): Promise<void> {
    slot.generation++;
    this.started++;
    const execLog = join(this.settings.dir, `exec-${slot.role}-${slot.generation}.log`);
    this.execLogs.push(execLog);
    const child = spawn(process.execPath, ["--import", "tsx", SCRIPT], {
      env: {
        ...process.env,
        ...this.settings.env,
        SOAK_NATS_URLS: this.settings.natsUrls.join(","),
        SOAK_LABEL: `${slot.role}.${slot.generation}`,
        SOAK_EXEC_LOG: execLog,
        ...(this.settings.serveOptions !== undefined && { SOAK_SERVE_OPTIONS: this.settings.serveOptions }),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stderr!.pipe(this.stderr, { end: false });
    slot.child = child;
    slot.expectingExit = false;
    slot.exited = new Promise<void>((resolve) =>
      child.once("exit", (code, signal) => {
        resolve();
        if (slot.expectingExit || this.closing || slot.child !== child) return;
        this.deaths.push({
          role: slot.role,
          pid: child.pid ?? -1,
          exit: signal ?? String(code),
          atMs: this.settings.clock(),
        });
        this.startSlot(slot).catch((err) => {
          process.stderr.write(`soak: ${slot.role} could not be started again: ${err}\n`);
        });
      }),
    );
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(
        () => reject(new Error(`${slot.role} not ready after ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      child.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (/ready \S+\n/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${slot.role} exited (${signal ?? code}) before it was ready`));
      });
    });
  }
}
