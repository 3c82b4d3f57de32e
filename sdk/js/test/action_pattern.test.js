// ActionPattern against the Rust SDK's rows (sdk/src/action_pattern.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActionPattern, ConfigError, identifierProblem, sameIdentifier } from '../index.js';

test('patterns match by kind, with ASCII case folded only', () => {
  // (pattern, action, matches)
  const rows = [
    ['*', 'anything', true],
    ['delete_*', 'delete_user', true],
    ['delete_*', 'delete_', true],
    ['delete_*', 'undelete_user', false],
    ['send_email', 'send_email', true],
    ['send_email', 'send_emails', false],
    ['delete_account', 'Delete_Account', true],
    ['Delete_Account', 'delete_account', true],
    ['send_*', 'SEND_email', true],
    ['SEND_*', 'send_email', true],
    ['delete_account', 'delete_account ', false],
    ['delete_account', 'delete\u200baccount', false],
    ['delete_*', 'd\u0435lete_user', false],
    ['delete_*', '\uff44elete_user', false],
    ['delete_*', 'delete', false],
    // The Kelvin sign lower-cases to `k` outside ASCII folding: not here.
    ['kill_*', '\u212aill_all', false],
    ['kill', '\u212aILL', false],
  ];
  for (const [pattern, action, expected] of rows) {
    assert.equal(ActionPattern.parse(pattern).matches(action), expected, `${pattern} vs ${action}`);
  }
});

test('interest is the patterns unless one is everything', () => {
  // (patterns, interest)
  const rows = [
    [[], []],
    [['send_email', 'Delete_*'], ['send_email', 'Delete_*']],
    [['send_email', '*'], null],
    [['*'], null],
  ];
  for (const [texts, expected] of rows) {
    assert.deepEqual(ActionPattern.interest(texts.map((t) => ActionPattern.parse(t))), expected);
  }
});

const RULE = '1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`';
const NAME = 'an action pattern is an action name, optionally ending in `*`: ';

test('parseList refuses bad patterns with the Rust SDK\'s words', () => {
  // (key, patterns, the error)
  const rows = [
    ['forbidden', [''], 'config key `forbidden[0]`: an action pattern must not be empty'],
    ['forbidden', ['a*b'], 'config key `forbidden[0]`: action pattern `a*b`: `*` is allowed only at the end'],
    ['require_approval', ['x', '**'],
      'config key `require_approval[1]`: action pattern `**`: `*` is allowed only at the end'],
    ['forbidden', ['*a'], 'config key `forbidden[0]`: action pattern `*a`: `*` is allowed only at the end'],
    ['forbidden', ['delete_account '],
      `config key \`forbidden[0]\`: ${NAME}character 14 (U+0020) is not allowed; a name is ${RULE}`],
    ['require_approval', ['ok', 'delete\u200b*'],
      `config key \`require_approval[1]\`: ${NAME}character 6 (U+200B) is not allowed; a name is ${RULE}`],
    ['forbidden', ['\u00e9'], `config key \`forbidden[0]\`: ${NAME}character 0 (U+00E9) is not allowed; a name is ${RULE}`],
    ['forbidden', ['a\u{1f600}b'],
      `config key \`forbidden[0]\`: ${NAME}character 1 (U+1F600) is not allowed; a name is ${RULE}`],
    ['allowed', ['a'.repeat(129)], `config key \`allowed[0]\`: ${NAME}is 129 characters long; a name is ${RULE}`],
  ];
  for (const [key, texts, error] of rows) {
    assert.throws(
      () => ActionPattern.parseList(key, texts),
      (e) => e instanceof ConfigError && e.message === error,
      `${texts}: expected ${error}`,
    );
  }
  assert.equal(ActionPattern.parseList('allowed', ['a'.repeat(128), 'b*', '*']).length, 3);
});

test('names compare with ASCII case folded only', () => {
  // (a, b, same)
  const rows = [
    ['financial-advisor', 'Financial-Advisor', true],
    ['financial-advisor', 'financial-advisor ', false],
    ['strasse', 'STRASSE\u017f', false],
    ['\u00e9', '\u00c9', false],
    ['kelvin', '\u212aELVIN', false],
    ['MiXeD-Case:1/2', 'mixed-case:1/2', true],
  ];
  for (const [a, b, same] of rows) assert.equal(sameIdentifier(a, b), same, `${a} / ${b}`);
  assert.equal(identifierProblem('mcp:shop/issue_refund.v2-b'), null);
  assert.equal(identifierProblem('delete*'), `character 6 (U+002A) is not allowed; a name is ${RULE}`);
});
