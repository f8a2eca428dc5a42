/**
 * Child processes for the package check: one-shot commands whose output is returned, and
 * long-running ones (a service, the gateway) that are awaited until they print a line.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { once } from "node:events";

/** Where and how a command runs. */
export interface RunOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** ms before the command is killed and reported as hung (default 60 s) */
  timeout?: number;
}

/** What a finished command left. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A command that failed: its line, exit code and output, so the log says what went wrong. */
export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    super(`\`${command}\` exited ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
    this.name = "CommandError";
  }
}

/**
 * Runs a command to its end.
 *
 * @returns its exit code and output
 * @throws {@link CommandError} when it exits non-zero (or is killed at the timeout)
 */
export function run(file: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  const command = [file, ...args].join(" ");
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { cwd: opts.cwd, env: opts.env, timeout: opts.timeout ?? 60_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        const result = { code, stdout, stderr };
        if (err) reject(new CommandError(command, result));
        else resolve(result);
      },
    );
  });
}

/**
 * A long-running child whose output is collected as it comes. It leads a process group of its own,
 * and signals go to the whole group: `npx` runs the bin through `sh -c`, and a signal to npx alone
 * would leave them running.
 */
export class Background {
  readonly child: ChildProcess;
  readonly command: string;
  #out = "";

  constructor(file: string, args: readonly string[], opts: RunOptions) {
    this.command = [file, ...args].join(" ");
    this.child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        this.#out += chunk;
      });
    }
  }

  /** stdout and stderr so far, interleaved as they arrived. */
  get output(): string {
    return this.#out;
  }

  /**
   * Waits until the output matches `pattern`.
   *
   * @returns the match
   * @throws when the child exits first or `timeout` ms pass, with its output
   */
  async waitFor(pattern: RegExp, timeout = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeout;
    for (;;) {
      const match = pattern.exec(this.#out);
      if (match) return match;
      if (this.child.exitCode !== null || this.child.signalCode !== null || Date.now() > deadline) {
        throw new Error(
          `\`${this.command}\` did not print ${pattern} (exit ${this.child.exitCode}):\n${this.#out}`,
        );
      }
      await sleep(50);
    }
  }

  /**
   * Sends `signal` to the group and waits until every process in it has exited.
   *
   * @returns how the child itself exited: its code, or the signal that ended it (npx ends by the
   *   signal it forwards)
   * @throws when a process of the group still runs `timeout` ms later (the group is then killed)
   */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeout = 15_000): Promise<number | NodeJS.Signals> {
    const group = -this.child.pid!;
    const exited = this.child.exitCode !== null || this.child.signalCode !== null;
    const exit = exited ? Promise.resolve() : once(this.child, "exit");
    if (groupAlive(group)) process.kill(group, signal);
    const deadline = Date.now() + timeout;
    await exit;
    while (groupAlive(group)) {
      if (Date.now() > deadline) {
        process.kill(group, "SIGKILL");
        throw new Error(`\`${this.command}\`: a process of its group ignored ${signal}:\n${this.#out}`);
      }
      await sleep(50);
    }
    return this.child.exitCode ?? this.child.signalCode!;
  }
}

function groupAlive(group: number): boolean {
  try {
    process.kill(group, 0);
    return true;
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
