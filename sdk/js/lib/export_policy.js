// A policy object into the export componentize-js needs for the world
// `gavel:policy/policy-world@0.3.0`: `export const policy =
// exportPolicy({...})` in the component's entry module.

import { ConfigError, parseConfig } from './config.js';
import { deny, isVerdict, outcome } from './verdict.js';
import { fromWit } from './request.js';

function checkMetadata(metadata) {
  const m = metadata ?? {};
  for (const key of ['name', 'version', 'description']) {
    if (typeof m[key] !== 'string' || m[key].length === 0) {
      throw new TypeError(`exportPolicy: metadata.${key} must be a non-empty string`);
    }
  }
  return { name: m.name, version: m.version, description: m.description };
}

/** Build an evaluator: parse the config, then the policy's `create`. */
export function createEvaluator(policy, configText) {
  const config =
    policy.config === undefined
      ? parseConfig(configText, policy.configName ?? 'Config', {})
      : parseConfig(configText, policy.configName ?? 'Config', policy.config);
  return policy.create(config);
}

/**
 * Judge `witRequest` with `evaluator`: the outcome as the WIT bindings
 * expect it. A policy may answer a verdict or an `outcome(...)`.
 */
export function evaluateWith(evaluator, witRequest) {
  const request = fromWit(witRequest);
  const answer = evaluator.evaluate(request);
  const problem = request.paramsProblem();
  if (problem !== null) {
    // The policy read params it could not parse: never judge on them.
    return outcome(deny('invalid-request', problem));
  }
  const marked = request.findings();
  if (isVerdict(answer)) {
    return marked.length === 0 ? { verdict: answer, findings: [], charges: [] } : outcome(answer, { findings: marked });
  }
  if (answer === null || typeof answer !== 'object' || !isVerdict(answer.verdict)) {
    throw new TypeError('evaluate must return a verdict (approve, deny, escalate) or an outcome');
  }
  const findings = marked.length === 0 ? (answer.findings ?? []) : [...marked, ...(answer.findings ?? [])];
  return outcome(answer.verdict, { findings, charges: answer.charges ?? [] });
}

/**
 * The `policy` interface export for a policy object:
 *
 *   {
 *     metadata: { name, version, description },
 *     config: { key: field.list(), ... },   // the config's keys; none if omitted
 *     configName: 'Config',                 // the struct name in error texts
 *     create(config) -> evaluator,          // throw ConfigError.key(...) on a bad value
 *   }
 *
 * where an evaluator has `evaluate(request)` (a verdict or an outcome)
 * and optionally `interest()` (action patterns, or null for every
 * action). A config error becomes `create`'s error text; any other
 * exception traps, and the host handles it as the policy's failure.
 */
export function exportPolicy(policy) {
  const metadata = checkMetadata(policy?.metadata);
  if (typeof policy.create !== 'function') {
    throw new TypeError('exportPolicy: the policy needs a create(config) function');
  }
  class Evaluator {
    #inner;

    constructor(inner) {
      this.#inner = inner;
    }

    static create(configText) {
      let inner;
      try {
        inner = createEvaluator(policy, configText);
      } catch (e) {
        // componentize-js turns a thrown string into `result::err`.
        if (e instanceof ConfigError) throw e.message;
        throw e;
      }
      if (inner === null || typeof inner !== 'object' || typeof inner.evaluate !== 'function') {
        throw new TypeError('create must return an evaluator with an evaluate(request) method');
      }
      return new Evaluator(inner);
    }

    interest() {
      if (typeof this.#inner.interest !== 'function') return undefined;
      const interest = this.#inner.interest();
      return interest === null || interest === undefined ? undefined : [...interest];
    }

    evaluate(request) {
      return evaluateWith(this.#inner, request);
    }
  }
  return Object.freeze({
    metadata: () => ({ ...metadata }),
    Evaluator,
  });
}
