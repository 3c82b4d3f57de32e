// The request a policy judges: the WIT `request` record, with `params`
// parsed on first read and a place to mark sensitive values. (A class,
// not closures per request: every evaluation builds one, and in the
// component's interpreter each allocation costs fuel.)

const optional = (v) => (v === undefined ? null : v);

class PolicyRequest {
  #paramsText;
  #params = undefined;
  #problem = null;
  #findings = null;

  constructor(wit) {
    const agent = wit.agent ?? {};
    this.requestId = wit.requestId;
    this.agent = {
      id: agent.id,
      registered: agent.registered === true,
      riskTier: optional(agent.riskTier),
      owner: optional(agent.owner),
    };
    this.action = wit.action;
    this.amount = optional(wit.amount);
    this.currency = optional(wit.currency);
    this.timestampMs = Number(wit.timestampMs);
    this.sessionId = optional(wit.sessionId);
    this.userId = optional(wit.userId);
    this.#paramsText = wit.params;
  }

  /**
   * The action's parameters, a JSON object, parsed on first read. Should
   * the host's text not be one, this reads `{}`, the problem is kept
   * (`paramsProblem()`), and the policy's answer becomes a deny.
   */
  get params() {
    if (this.#params === undefined) {
      try {
        const value = JSON.parse(this.#paramsText);
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
          this.#params = value;
        } else {
          this.#problem = 'params is not a JSON object';
          this.#params = {};
        }
      } catch (e) {
        this.#problem = `params is not valid JSON: ${e.message}`;
        this.#params = {};
      }
    }
    return this.#params;
  }

  /**
   * Mark the value at `path` (e.g. `params.body`) as sensitive, of `kinds`
   * (each 1..64 of a-z, 0-9, `-`, `_`): the host logs it only as a keyed
   * hash.
   */
  markSensitive(path, kinds) {
    if (this.#findings === null) this.#findings = [];
    const found = this.#findings.find((f) => f.path === path);
    if (found === undefined) this.#findings.push({ path, kinds: [...kinds] });
    else for (const k of kinds) if (!found.kinds.includes(k)) found.kinds.push(k);
  }

  /** Everything marked so far. */
  findings() {
    if (this.#findings === null) return [];
    return this.#findings.map((f) => ({ path: f.path, kinds: [...f.kinds] }));
  }

  /** Why `params` could not be read, if it was read and could not be. */
  paramsProblem() {
    return this.#problem;
  }
}

/** The request a policy reads, from the host's (componentize-js shape). */
export function fromWit(wit) {
  return new PolicyRequest(wit);
}

/**
 * A request for unit tests, in the shape `fromWit` gives: name the fields
 * you need (`params` as an object), the rest get neutral values.
 */
export function testRequest(fields = {}) {
  const { params = {}, agent = {}, ...rest } = fields;
  return fromWit({
    requestId: 'test',
    action: 'test_action',
    timestampMs: 0n,
    ...rest,
    agent: { id: 'test-agent', registered: false, ...agent },
    params: JSON.stringify(params),
  });
}
