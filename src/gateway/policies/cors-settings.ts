/**
 * CORS options: their shape, defaults and validation.
 */
import { ConfigFields, describeValue } from "./config-fields.js";

/**
 * Options of the {@link cors} policy (the `cors` block of a route).
 *
 * @example
 * ```ts
 * const policy = cors({
 *   origins: ["https://app.example.com"],
 *   methods: ["GET", "POST"],
 *   credentials: true,
 *   maxAge: 600, // seconds a browser may cache the preflight
 * });
 * ```
 */
export interface CorsOptions {
  /**
   * Origins allowed to read responses, e.g. `["https://app.example.com"]` (scheme, host and port only),
   * or `"*"` for any origin. With `credentials`, `"*"` reflects the caller's origin: any site can then
   * make credentialed calls, so prefer a list.
   */
  origins: readonly string[] | "*";
  /** Methods allowed in preflights; default `GET, HEAD, PUT, PATCH, POST, DELETE`; `["*"]` for any. */
  methods?: readonly string[];
  /** Request headers allowed in preflights; default: the ones the preflight asks for; `["*"]` for any. */
  allowHeaders?: readonly string[];
  /** Response headers the browser may expose to scripts (`Access-Control-Expose-Headers`). */
  exposeHeaders?: readonly string[];
  /** Allow cookies and HTTP authentication (`Access-Control-Allow-Credentials: true`); default false. */
  credentials?: boolean;
  /** How long browsers may cache a preflight, in seconds (`Access-Control-Max-Age`). */
  maxAge?: number;
}

/** The fields of the `cors` block. */
export const CORS_KEYS = [
  "origins",
  "methods",
  "allowHeaders",
  "exposeHeaders",
  "credentials",
  "maxAge",
] as const;

/** Methods allowed when `methods` is not given (those of the `cors` npm package). */
export const DEFAULT_CORS_METHODS = ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"] as const;

/** Validated CORS options, ready for matching. */
export interface CorsSettings {
  /** True for `origins: "*"`. */
  anyOrigin: boolean;
  /** Allowed origins, lower-case. */
  origins: ReadonlySet<string>;
  /** Allowed methods, upper-case, or `"*"` for any. */
  methods: readonly string[] | "*";
  /** Allowed request headers, `"*"` for any, `undefined` to allow what the preflight asks for. */
  allowHeaders: readonly string[] | "*" | undefined;
  /** Exposed response headers, or `"*"`. */
  exposeHeaders: readonly string[] | "*";
  /** Whether credentials are allowed. */
  credentials: boolean;
  /** Preflight cache lifetime in seconds, when set. */
  maxAge: number | undefined;
}

/**
 * Validates CORS options from typed or untyped input.
 *
 * @param input - the options (typed API input or a parsed YAML/JSON block)
 * @param where - the place reported in errors, e.g. `cors()`
 * @returns the settings the policy matches against
 * @throws {@link PolicyConfigError} naming the first faulty field
 * @example
 * ```ts
 * corsSettings({ origins: ["https://app.example.com"], credentials: true }, "cors()");
 * ```
 */
export function corsSettings(input: unknown, where: string): CorsSettings {
  const fields = new ConfigFields(where);
  const block = fields.record(input, "", CORS_KEYS);
  const credentials =
    block.credentials === undefined ? false : fields.boolean(block.credentials, "credentials");
  const anyOrigin = block.origins === "*";
  const origins = anyOrigin
    ? []
    : fields.stringList(block.origins, "origins").map((o, i) => origin(fields, o, i));
  const exposeHeaders =
    block.exposeHeaders === undefined
      ? []
      : tokens(fields, block.exposeHeaders, "exposeHeaders", "header name");
  if (exposeHeaders === "*" && credentials)
    fields.fail(
      "exposeHeaders",
      'cannot be "*" with credentials: browsers read it literally; list the headers',
    );
  return {
    anyOrigin,
    origins: new Set(origins),
    methods:
      block.methods === undefined
        ? DEFAULT_CORS_METHODS
        : upper(tokens(fields, block.methods, "methods", "method")),
    allowHeaders:
      block.allowHeaders === undefined
        ? undefined
        : tokens(fields, block.allowHeaders, "allowHeaders", "header name"),
    exposeHeaders,
    credentials,
    maxAge: block.maxAge === undefined ? undefined : fields.nonNegativeInteger(block.maxAge, "maxAge"),
  };
}

/** One configured origin, checked and lower-cased. */
function origin(fields: ConfigFields, value: string, i: number): string {
  const field = `origins[${i}]`;
  if (value === "*") fields.fail(field, 'cannot be "*" inside a list: write origins: "*"');
  const lower = value.toLowerCase();
  let url: URL | undefined;
  try {
    url = new URL(lower);
  } catch {
    url = undefined;
  }
  if (url === undefined || `${url.protocol}//${url.host}` !== lower)
    fields.fail(
      field,
      `must be an origin like https://app.example.com: scheme://host[:port], no path, no trailing slash, no default port (got ${describeValue(value)})`,
    );
  return lower;
}

/** A list of HTTP tokens, or `"*"` when the list is exactly `["*"]`. */
function tokens(fields: ConfigFields, value: unknown, field: string, what: string): readonly string[] | "*" {
  const list = fields.stringList(value, field);
  if (list.includes("*")) {
    if (list.length > 1) fields.fail(field, 'cannot mix "*" with names: use ["*"] alone');
    return "*";
  }
  return list.map((item, i) => fields.token(item, `${field}[${i}]`, what));
}

function upper(list: readonly string[] | "*"): readonly string[] | "*" {
  return list === "*" ? list : list.map((m) => m.toUpperCase());
}
