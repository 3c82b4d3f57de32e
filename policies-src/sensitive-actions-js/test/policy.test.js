// Unit tests for the policy logic (the component itself runs the Rust
// policy's case file through `gavel test`):
//
//   npm ci && node --test test/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEvaluator, testRequest } from 'gavel-policy';
import { sensitiveActions } from '../src/policy.js';

const SHIPPED =
  '{"forbidden":["delete_account"],"require_approval":["delete_*","contract_modification"]}';
const ALLOW_LIST =
  '{"forbidden":["wire_*"],"require_approval":["refund"],"allowed":["read_*","refund","wire_out"]}';

function verdict(config, action) {
  const v = createEvaluator(sensitiveActions, config).evaluate(testRequest({ action }));
  return v.tag === 'approve' ? ['approve'] : [v.tag, v.val.code, v.val.message];
}

test('verdicts, codes and messages are the Rust policy\'s', () => {
  // (config, action, expected)
  const rows = [
    [SHIPPED, 'delete_account', ['deny', 'forbidden-action', 'action `delete_account` is forbidden']],
    [SHIPPED, 'Delete_Account', ['deny', 'forbidden-action', 'action `Delete_Account` is forbidden']],
    [SHIPPED, 'delete_', ['escalate', 'approval-required', 'action `delete_` requires human approval']],
    [SHIPPED, 'CONTRACT_modification', ['escalate', 'approval-required', 'action `CONTRACT_modification` requires human approval']],
    [SHIPPED, 'undelete_x', ['approve']],
    [SHIPPED, '\uff44elete_account', ['approve']],
    [SHIPPED, 'd\u0435lete_account', ['approve']],
    [ALLOW_LIST, 'write', ['deny', 'action-not-allowed', 'action `write` is not on the allowed list']],
    [ALLOW_LIST, 'wire_out', ['deny', 'forbidden-action', 'action `wire_out` is forbidden']],
    [ALLOW_LIST, 'refund', ['escalate', 'approval-required', 'action `refund` requires human approval']],
    [ALLOW_LIST, 'read_x', ['approve']],
    ['{"allowed":[]}', 'x', ['deny', 'action-not-allowed', 'action `x` is not on the allowed list']],
    ['{"forbidden":["*"]}', 'anything', ['deny', 'forbidden-action', 'action `anything` is forbidden']],
    ['{}', 'delete_account', ['approve']],
    ['{"allowed":null}', 'anything', ['approve']],
  ];
  for (const [config, action, expected] of rows) {
    assert.deepEqual(verdict(config, action), expected, `${config} ${action}`);
  }
});

test('interest is what the lists judge', () => {
  // (config, interest)
  const rows = [
    ['{"forbidden":["delete_*"],"require_approval":["send_email"]}', ['delete_*', 'send_email']],
    ['{}', []],
    ['{"forbidden":["*"]}', null],
    ['{"require_approval":["a","*"]}', null],
    ['{"forbidden":["delete_*"],"allowed":["read_*"]}', null],
    ['{"allowed":[]}', null],
  ];
  for (const [config, expected] of rows) {
    assert.deepEqual(createEvaluator(sensitiveActions, config).interest(), expected, config);
  }
});

test('config errors name the key', () => {
  // (config, error)
  const rows = [
    ['{"forbiden":["a"]}', 'unknown config key `forbiden`'],
    ['{"allowed":[1]}', 'config key `allowed[0]`: invalid type: integer `1`, expected a string at line 1 column 13'],
    ['{"require_approval":["x","**"]}', 'config key `require_approval[1]`: action pattern `**`: `*` is allowed only at the end'],
  ];
  for (const [config, error] of rows) {
    assert.throws(() => createEvaluator(sensitiveActions, config), { message: error }, config);
  }
});
