// gavel-policy: write Gavel policies in JavaScript.
//
// A policy is an ES module that exports `policy = exportPolicy({...})`
// and is built into a WebAssembly component with componentize-js against
// the WIT world `gavel:policy/policy-world@0.3.0`. This module gives it
// the Rust SDK's building blocks with the same behaviour and texts:
// config parsing that refuses unknown keys, action patterns, verdicts.

export { ConfigError, field, parseConfig } from './lib/config.js';
export { formatFloat } from './lib/json_reader.js';
export { debugStr } from './lib/rust_debug.js';
export { ActionPattern } from './lib/action_pattern.js';
export {
  MAX_IDENTIFIER_CHARS,
  identifierKey,
  identifierProblem,
  isIdentifierChar,
  sameIdentifier,
} from './lib/identifier.js';
export { approve, charge, deny, escalate, isVerdict, outcome, window } from './lib/verdict.js';
export { fromWit, testRequest } from './lib/request.js';
export { createEvaluator, evaluateWith, exportPolicy } from './lib/export_policy.js';
