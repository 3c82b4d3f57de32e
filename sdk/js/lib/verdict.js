// What a policy answers, in the shapes componentize-js expects for the
// WIT types of `gavel:policy/policy@0.3.0` (variants as `{tag, val}`,
// records as objects with camelCase fields, `u64` as BigInt).

/** A reason's code: lowercase ASCII letters, digits and `-`, 1..64. */
const CODE = /^[a-z0-9-]{1,64}$/;

function reason(code, message) {
  if (typeof code !== 'string' || !CODE.test(code)) {
    throw new TypeError(
      `verdict code ${JSON.stringify(code)}: a code is 1-64 lowercase ASCII letters, digits or \`-\``,
    );
  }
  if (typeof message !== 'string') {
    throw new TypeError(`verdict code \`${code}\`: the message must be a string`);
  }
  return { code, message };
}

/** Approve the action. */
const APPROVE = Object.freeze({ tag: 'approve' });

export function approve() {
  return APPROVE;
}

/** Deny the action with a stable `code` and a human `message`. */
export function deny(code, message) {
  return { tag: 'deny', val: reason(code, message) };
}

/** Ask a human, with a stable `code` and a `message`. */
export function escalate(code, message) {
  return { tag: 'escalate', val: reason(code, message) };
}

const VERDICT_TAGS = new Set(['approve', 'deny', 'escalate']);

/** Whether `value` is a verdict made by approve, deny or escalate. */
export function isVerdict(value) {
  return value !== null && typeof value === 'object' && VERDICT_TAGS.has(value.tag);
}

/**
 * The outcome `evaluate` returns: the verdict, findings and charges. A
 * deny's charges are dropped, as the Rust SDK drops them (the host never
 * counts a denied action).
 */
export function outcome(verdict, { findings = [], charges = [] } = {}) {
  if (!isVerdict(verdict)) {
    throw new TypeError('outcome: the verdict must come from approve(), deny() or escalate()');
  }
  return {
    verdict,
    findings: findings.map((f) => ({ path: f.path, kinds: [...f.kinds] })),
    charges: verdict.tag === 'deny' ? [] : [...charges],
  };
}

/** Calendar and rolling windows for charges. */
export const window = Object.freeze({
  /** The current `period` ('hour', 'day', 'month') in `timezone`. */
  calendar: (period, timezone) => ({ tag: 'calendar', val: { period, timezone } }),
  /** The last `ms` milliseconds. */
  rolling: (ms) => ({ tag: 'rolling', val: BigInt(ms) }),
});

/** Charges against the host's counters (see the WIT `charge` record). */
export const charge = Object.freeze({
  /**
   * A spend budget: `amount` against `limit` on `counter`, per `scope`
   * ('agent', 'session', 'user', 'fleet') and `window`.
   */
  budget: (counter, scope, win, amount, limit, { escalateAbove } = {}) => ({
    counter,
    kind: 'budget',
    scope,
    window: win,
    amount,
    limit,
    escalateAbove,
  }),
  /** A rate: one more action against `limit` per `window`. */
  rate: (counter, scope, win, limit, { escalateAbove } = {}) => ({
    counter,
    kind: 'rate',
    scope,
    window: win,
    amount: 1,
    limit,
    escalateAbove,
  }),
});
