/** Starts {@link ./instance-child.ts} as a child process: a service instance a test can SIGKILL. */
import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "instance-child.ts");
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** A service instance running in a child process. */
export interface ChildInstance {
  /** The instance id it reports in `mesh-instance`. */
  readonly instance: string;
  readonly process: ChildProcess;
  /** Sends `signal` (default SIGKILL) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Spawns an instance of `service` (answering `/whoami` with `label`) connected to `url`, and waits
 * until it is subscribed.
 */
export async function startChildInstance(
  service: string,
  label: string,
  url: string,
  env: NodeJS.ProcessEnv = {},
): Promise<ChildInstance> {
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT], {
    env: { ...process.env, NATS_URL: url, SERVICE: service, LABEL: label, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  live.add(child);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      live.delete(child);
      resolve();
    }),
  );
  const instance = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const m = /ready (\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once("exit", (code, signal) =>
      reject(new Error(`instance child exited (${code ?? signal}) before ready`)),
    );
  });
  return {
    instance,
    process: child,
    async kill(signal: NodeJS.Signals = "SIGKILL") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
