// Types for gavel-policy: JavaScript policies for `gavel:policy@0.3.0`.

// --- the request --------------------------------------------------------------

/** The acting agent and what the operator's registry says about it. */
export interface Agent {
  /** 1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`; compare with `sameIdentifier`. */
  readonly id: string;
  /** Whether the agent is in the operator's registry. */
  readonly registered: boolean;
  /** 1 (low) .. 4 (critical), when registered. */
  readonly riskTier: number | null;
  /** The owning team, when registered. */
  readonly owner: string | null;
}

/** A sensitive value found in `params`: its path and kinds, never the value. */
export interface Finding {
  /** e.g. `params.body`, `params.items[0].note`. */
  path: string;
  /** e.g. `email`: each 1..64 characters of a-z, 0-9, `-` and `_`. */
  kinds: string[];
}

/** The request a policy judges. */
export interface Request {
  readonly requestId: string;
  readonly agent: Agent;
  /** The action's name; match it with `ActionPattern` (ASCII case folded). */
  readonly action: string;
  /**
   * The action's parameters, a JSON object, parsed on first read. Should
   * the host's text not be an object, this reads `{}` and the answer of
   * `evaluate` becomes a deny `invalid-request`.
   */
  readonly params: Record<string, unknown>;
  /** Finite and >= 0 when present. */
  readonly amount: number | null;
  readonly currency: string | null;
  /** When the action was requested, UTC milliseconds since the epoch: the only clock. */
  readonly timestampMs: number;
  readonly sessionId: string | null;
  readonly userId: string | null;
  /** Mark the value at `path` as sensitive: the host logs it only as a keyed hash. */
  markSensitive(path: string, kinds: string[]): void;
  /** Everything marked so far. */
  findings(): Finding[];
  /** Why `params` could not be read, if it was read and could not be. */
  paramsProblem(): string | null;
}

/** The request as the componentize-js bindings hand it over. */
export interface WitRequest {
  requestId: string;
  agent: { id: string; registered: boolean; riskTier?: number; owner?: string };
  action: string;
  params: string;
  amount?: number;
  currency?: string;
  timestampMs: bigint;
  sessionId?: string;
  userId?: string;
}

/** The request `fromWit` gives for the host's. */
export function fromWit(request: WitRequest): Request;

/** A request for unit tests: the fields you name (`params` as an object), neutral values for the rest. */
export function testRequest(
  fields?: Partial<Omit<WitRequest, 'params' | 'agent' | 'timestampMs'>> & {
    params?: Record<string, unknown>;
    agent?: Partial<WitRequest['agent']>;
    timestampMs?: bigint;
  },
): Request;

// --- verdicts and outcomes ---------------------------------------------------

/** Why a policy denied or escalated. */
export interface Reason {
  /** 1-64 lowercase ASCII letters, digits and `-` (e.g. `over-limit`). */
  readonly code: string;
  /** For humans; never repeat sensitive input. */
  readonly message: string;
}

export type Verdict =
  | { readonly tag: 'approve' }
  | { readonly tag: 'deny'; readonly val: Reason }
  | { readonly tag: 'escalate'; readonly val: Reason };

/** Approve the action. */
export function approve(): Verdict;
/** Deny with a stable `code` (checked: 1-64 of a-z, 0-9, `-`; a TypeError otherwise) and a message. */
export function deny(code: string, message: string): Verdict;
/** Ask a human, with a stable `code` and a message. Later policies still run; a deny wins. */
export function escalate(code: string, message: string): Verdict;
/** Whether `value` is a verdict. */
export function isVerdict(value: unknown): value is Verdict;

export type Scope = 'agent' | 'session' | 'user' | 'fleet';
export type Period = 'hour' | 'day' | 'month';
export type Window =
  | { tag: 'calendar'; val: { period: Period; timezone: string } }
  | { tag: 'rolling'; val: bigint };

/** A charge against one of the host's counters (the WIT `charge` record). */
export interface Charge {
  counter: string;
  kind: 'budget' | 'rate';
  scope: Scope;
  window: Window;
  amount: number;
  limit: number;
  escalateAbove?: number;
}

export const window: {
  /** The current period in `timezone` (an IANA name, or `UTC`). */
  calendar(period: Period, timezone: string): Window;
  /** The last `ms` milliseconds (1 ms .. 366 days). */
  rolling(ms: number | bigint): Window;
};

export const charge: {
  budget(
    counter: string,
    scope: Scope,
    window: Window,
    amount: number,
    limit: number,
    options?: { escalateAbove?: number },
  ): Charge;
  rate(counter: string, scope: Scope, window: Window, limit: number, options?: { escalateAbove?: number }): Charge;
};

/** What `evaluate` returns to the host (the WIT `outcome` record). */
export interface Outcome {
  verdict: Verdict;
  findings: Finding[];
  charges: Charge[];
}

/** An outcome with findings and charges; a deny's charges are dropped. */
export function outcome(verdict: Verdict, extra?: { findings?: Finding[]; charges?: Charge[] }): Outcome;

// --- config --------------------------------------------------------------------

/** Why a config was refused; the message names the offending key. */
export class ConfigError extends Error {
  /** `config key \`KEY\`: PROBLEM`, as the Rust SDK's `ConfigError::key`. */
  static key(key: string, problem: string): ConfigError;
}

/** A field kind, standing for a Rust type in the config struct. */
export interface FieldKind<T> {
  readonly name: string;
  /** Phantom: the parsed value's type. */
  readonly __type?: T;
}

export const field: {
  /** `#[serde(default)] Vec<String>`: missing means `[]`. */
  list(): FieldKind<string[]>;
  /** `String`; required unless a default is given. */
  string(options?: { default: string }): FieldKind<string>;
  /** `f64` (any JSON number, `"expected f64"` otherwise); required unless a default is given. */
  number(options?: { default: number }): FieldKind<number>;
  /** `bool`; required unless a default is given. */
  boolean(options?: { default: boolean }): FieldKind<boolean>;
  /** `Option<T>`: missing or `null` gives `null`. */
  optional<T>(inner: FieldKind<T>): FieldKind<T | null>;
};

export type Fields = Record<string, FieldKind<unknown>>;
export type ConfigOf<F extends Fields> = { [K in keyof F]: F[K] extends FieldKind<infer T> ? T : never };

/**
 * Parse JSON `text` as the Rust SDK's `parse_config` parses a struct named
 * `name` with `fields` (in declaration order): unknown keys are refused,
 * and every error text is the Rust SDK's. Throws a `ConfigError`.
 */
export function parseConfig<F extends Fields>(text: string, name: string, fields: F): ConfigOf<F>;

/** A float as serde_json writes it in error messages. */
export function formatFloat(value: number): string;
/** `format!("{:?}", text)` for a Rust string. */
export function debugStr(text: string): string;

// --- names and patterns ----------------------------------------------------------

export const MAX_IDENTIFIER_CHARS: 128;
/** ASCII lower case: the form to key a map of names by. */
export function identifierKey(name: string): string;
/** Whether two names are the same (ASCII case folded). */
export function sameIdentifier(a: string, b: string): boolean;
/** Whether one character may appear in a name. */
export function isIdentifierChar(char: string): boolean;
/** Why `name` is not a name the host accepts, or null (the Rust SDK's text). */
export function identifierProblem(name: string): string | null;

/** An action name, a prefix ending in `*`, or `*`; matched with ASCII case folded. */
export class ActionPattern {
  readonly kind: 'any' | 'prefix' | 'exact';
  readonly body: string;
  /** Parse one pattern; throws an Error with the Rust SDK's text. */
  static parse(text: string): ActionPattern;
  /** Parse config key `key`'s patterns; throws a ConfigError naming `key[index]`. */
  static parseList(key: string, texts: string[]): ActionPattern[];
  static anyMatches(patterns: ActionPattern[], action: string): boolean;
  /** The patterns as text, or null when one is `*` (every action). */
  static interest(patterns: ActionPattern[]): string[] | null;
  matches(action: string): boolean;
  toString(): string;
}

// --- the policy and its export ---------------------------------------------------

export interface Metadata {
  name: string;
  version: string;
  /** One line. */
  description: string;
}

/** What a policy's `create` returns. */
export interface Evaluator {
  /** The actions judged (names or `prefix*`), or null for every action. */
  interest?(): string[] | null;
  /** Judge one request: a verdict, or an outcome with findings and charges. */
  evaluate(request: Request): Verdict | Outcome;
}

export interface Policy<F extends Fields = Fields> {
  metadata: Metadata;
  /** The config's keys (none when omitted: any key is refused). */
  config?: F;
  /** The struct name in config error texts (default `Config`). */
  configName?: string;
  /** Check the config's meaning; throw `ConfigError.key(...)` naming the key at fault. */
  create(config: ConfigOf<F>): Evaluator;
}

/** The `policy` export componentize-js needs: `export const policy = exportPolicy({...})`. */
export interface PolicyExport {
  metadata(): Metadata;
  Evaluator: {
    /** Throws the config error's text (a string): `result::err` for the host. */
    create(config: string): { interest(): string[] | undefined; evaluate(request: WitRequest): Outcome };
  };
}

export function exportPolicy<F extends Fields>(policy: Policy<F>): PolicyExport;

/** Parse `configText` and call the policy's `create` (for tests). */
export function createEvaluator<F extends Fields>(policy: Policy<F>, configText: string): Evaluator;

/** Judge a componentize-js request with an evaluator (for tests). */
export function evaluateWith(evaluator: Evaluator, request: WitRequest): Outcome;
