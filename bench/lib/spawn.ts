import { type ChildProcess, spawn } from "node:child_process";
import { createInterface, type Interface } from "node:readline";

/** A bench child process (tsx script) and its stdout lines. */
export interface BenchChild {
  child: ChildProcess;
  lines: Interface;
  /** The first line it printed (`READY ...`), without `READY`. */
  info: string;
  /** Ends its stdin and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `node [execArgv] --import tsx <script> ...args` and waits for its `READY` line.
 *
 * @throws Error when it prints something else first or exits before it is ready.
 */
export async function startBench(
  script: string,
  args: string[],
  execArgv: string[] = [],
): Promise<BenchChild> {
  const child = spawn(process.execPath, [...execArgv, "--import", "tsx", script, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const info = await new Promise<string>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`${script} ${args[0]} exited with ${code}`));
    child.once("exit", onExit);
    lines.once("line", (line) => {
      child.off("exit", onExit);
      if (line.startsWith("READY")) resolve(line.slice(6).trim());
      else reject(new Error(`${script} ${args[0]}: ${line}`));
    });
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return {
    child,
    lines,
    info,
    async stop() {
      child.stdin!.end();
      await exited;
    },
  };
}

/** Sends one JSON line and resolves with the JSON line that answers it. */
export function ask<T>(c: BenchChild, message: unknown): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bench child exited with ${code}`));
    c.child.once("exit", onExit);
    c.lines.once("line", (line) => {
      c.child.off("exit", onExit);
      resolve(JSON.parse(line) as T);
    });
    c.child.stdin!.write(`${JSON.stringify(message)}\n`);
  });
}
