// The request a policy judges: the WIT `request` record, with `params`
// parsed on first read and a place to mark sensitive values.

/**
 * Convert the host's request (componentize-js shape) into the object a
 * policy reads. `params` is parsed on first read; should the host's text
 * not be a JSON object, reading it gives `{}` and the problem is kept
 * (`paramsProblem()`), and the policy's answer becomes a deny.
 */
export function fromWit(wit) {
  let params;
  let problem = null;
  const findings = [];
  const optional = (v) => (v === undefined ? null : v);
  const agent = wit.agent ?? {};
  return {
    requestId: wit.requestId,
    agent: Object.freeze({
      id: agent.id,
      registered: agent.registered === true,
      riskTier: optional(agent.riskTier),
      owner: optional(agent.owner),
    }),
    action: wit.action,
    get params() {
      if (params === undefined) {
        try {
          const value = JSON.parse(wit.params);
          if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
            params = value;
          } else {
            problem = 'params is not a JSON object';
            params = {};
          }
        } catch (e) {
          problem = `params is not valid JSON: ${e.message}`;
          params = {};
        }
      }
      return params;
    },
    amount: optional(wit.amount),
    currency: optional(wit.currency),
    timestampMs: Number(wit.timestampMs),
    sessionId: optional(wit.sessionId),
    userId: optional(wit.userId),
    /**
     * Mark the value at `path` (e.g. `params.body`) as sensitive, of
     * `kinds` (each 1..64 of a-z, 0-9, `-`, `_`): the host logs it only as
     * a keyed hash.
     */
    markSensitive(path, kinds) {
      const found = findings.find((f) => f.path === path);
      if (found === undefined) findings.push({ path, kinds: [...kinds] });
      else for (const k of kinds) if (!found.kinds.includes(k)) found.kinds.push(k);
    },
    findings: () => findings.map((f) => ({ path: f.path, kinds: [...f.kinds] })),
    paramsProblem: () => problem,
  };
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
