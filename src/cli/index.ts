/**
 * The `natsmesh` command line: `natsmesh request` (curl over NATS), `natsmesh dev` (a local
 * nats-server) and `natsmesh gateway` (the HTTP(S) front door). `bin/natsmesh` runs {@link runCli}
 * through `main.js`.
 *
 * @example
 * ```ts
 * import { runCli } from "./cli/index.js";
 * process.exitCode = await runCli(["node", "natsmesh", "request", "http://weather.nats/"]);
 * ```
 *
 * @module
 */
export { addCanaryCommand, type CanaryCliOptions, parseSplitFlag, runCanary } from "./canary.js";
export { CLI_NAME, CliError, reportError } from "./cli-error.js";
export type { CliContext } from "./context.js";
export { readData } from "./data-arg.js";
export { addDevCommand, type DevOptions, runDev } from "./dev.js";
export { EXIT_CODES, type ExitCode } from "./exit-codes.js";
export { addFaultCommand, type FaultCliOptions, runFault } from "./fault.js";
export { addGatewayCommand, type GatewayCliOptions, parseRouteFlag, runGateway } from "./gateway.js";
export { parseHeader } from "./header-arg.js";
export { type CliIo, processIo, readAll, writeAll } from "./io.js";
export { createProgram, runCli } from "./program.js";
export { addRequestCommand, type RequestOptions, runRequest } from "./request.js";
export { formatHead } from "./response-head.js";
export {
  addServicesCommand,
  formatNanos,
  formatTable,
  runServices,
  type ServicesAction,
  type ServicesOptions,
} from "./services.js";
export { addTapCommand, formatRecord, runTap, type TapCliOptions } from "./tap.js";
