// Verdicts, outcomes and the export componentize-js calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ActionPattern, ConfigError, approve, charge, deny, escalate, exportPolicy, field, outcome,
  testRequest, window,
} from '../index.js';

test('verdict codes follow the WIT format', () => {
  // (code, accepted)
  const rows = [
    ['over-limit', true], ['a', true], ['x'.repeat(64), true], ['r2-d2', true],
    ['', false], ['x'.repeat(65), false], ['Over-Limit', false], ['over_limit', false],
    ['over limit', false], [7, false],
  ];
  for (const [code, accepted] of rows) {
    for (const make of [deny, escalate]) {
      if (accepted) assert.equal(make(code, 'm').val.code, code);
      else assert.throws(() => make(code, 'm'), TypeError, String(code));
    }
  }
  assert.throws(() => deny('ok', 5), TypeError);
});

test('outcomes carry charges except on a deny', () => {
  const day = window.calendar('day', 'UTC');
  const c = charge.budget('budget', 'agent', day, 5, 100, { escalateAbove: 0.9 });
  // (verdict, charges kept)
  const rows = [
    [approve(), 1],
    [escalate('check', 'm'), 1],
    [deny('no', 'm'), 0],
  ];
  for (const [verdict, kept] of rows) {
    const o = outcome(verdict, { charges: [c] });
    assert.equal(o.charges.length, kept, verdict.tag);
    assert.deepEqual(o.findings, []);
  }
  assert.deepEqual(window.rolling(1000), { tag: 'rolling', val: 1000n });
  assert.equal(charge.rate('calls', 'agent', window.rolling(60000), 10).amount, 1);
  assert.throws(() => outcome({ tag: 'maybe' }), TypeError);
});

// A small policy: `forbidden` patterns, a `review_above` number.
const example = exportPolicy({
  metadata: { name: 'example', version: '1.0.0', description: 'An example.' },
  config: { forbidden: field.list(), review_above: field.number({ default: 500 }) },
  create(config) {
    if (!(config.review_above >= 0)) throw ConfigError.key('review_above', 'must be a number >= 0');
    const forbidden = ActionPattern.parseList('forbidden', config.forbidden);
    return {
      interest: () => ActionPattern.interest(forbidden),
      evaluate(request) {
        if (request.action === 'read_params' && request.params.secret !== undefined) {
          request.markSensitive('params.secret', ['credential']);
        }
        if (ActionPattern.anyMatches(forbidden, request.action)) {
          return deny('forbidden-action', `action \`${request.action}\` is forbidden`);
        }
        if (request.amount !== null && request.amount > config.review_above) {
          return escalate('large-amount', `amount ${request.amount} is above ${config.review_above}`);
        }
        return approve();
      },
    };
  },
});

const witRequest = (fields) => ({
  requestId: 'r',
  agent: { id: 'a', registered: false },
  action: 'search',
  params: '{}',
  timestampMs: 0n,
  ...fields,
});

test('the export: create refuses bad configs with a string, evaluate answers outcomes', () => {
  assert.deepEqual(example.metadata(), { name: 'example', version: '1.0.0', description: 'An example.' });
  // (config, the error thrown by create)
  const refused = [
    ['{"forbiden":[]}', 'unknown config key `forbiden`'],
    ['{"review_above":-1}', 'config key `review_above`: must be a number >= 0'],
    ['{"forbidden":["a b"]}',
      'config key `forbidden[0]`: an action pattern is an action name, optionally ending in `*`: ' +
        'character 1 (U+0020) is not allowed; a name is 1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`'],
  ];
  for (const [config, error] of refused) {
    assert.throws(() => example.Evaluator.create(config), (e) => e === error, config);
  }
  const evaluator = example.Evaluator.create('{"forbidden":["delete_*"],"review_above":50}');
  assert.deepEqual(evaluator.interest(), ['delete_*']);
  assert.equal(example.Evaluator.create('{"forbidden":["*"]}').interest(), undefined);
  // (request fields, verdict tag, code)
  const rows = [
    [{ action: 'search' }, 'approve', undefined],
    [{ action: 'Delete_User' }, 'deny', 'forbidden-action'],
    [{ action: 'pay', amount: 60 }, 'escalate', 'large-amount'],
    [{ action: 'pay', amount: 50 }, 'approve', undefined],
    [{ action: 'read_params', params: '[1]' }, 'deny', 'invalid-request'],
    [{ action: 'read_params', params: 'nope' }, 'deny', 'invalid-request'],
    [{ action: 'search', params: 'nope' }, 'approve', undefined],
  ];
  for (const [fields, tag, code] of rows) {
    const o = evaluator.evaluate(witRequest(fields));
    assert.equal(o.verdict.tag, tag, JSON.stringify(fields));
    assert.equal(o.verdict.val?.code, code, JSON.stringify(fields));
  }
  const marked = evaluator.evaluate(witRequest({ action: 'read_params', params: '{"secret":"s"}' }));
  assert.deepEqual(marked.findings, [{ path: 'params.secret', kinds: ['credential'] }]);
});

test('testRequest builds the request a policy reads', () => {
  const r = testRequest({ action: 'pay', amount: 5, params: { to: 'x' }, agent: { id: 'b' } });
  assert.equal(r.action, 'pay');
  assert.equal(r.amount, 5);
  assert.equal(r.currency, null);
  assert.equal(r.agent.id, 'b');
  assert.deepEqual(r.params, { to: 'x' });
  assert.equal(r.timestampMs, 0);
});
