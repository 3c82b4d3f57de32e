// parseConfig against the Rust SDK's texts (sdk/src/config.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError, field, formatFloat, parseConfig } from '../index.js';

// The Rust sensitive-actions `Config`.
const SENSITIVE = {
  forbidden: field.list(),
  require_approval: field.list(),
  allowed: field.optional(field.list()),
};

// A config with scalar fields: `review_above: f64` (default 500),
// `label: String` (required), `strict: bool` (default false).
const SCALARS = {
  review_above: field.number({ default: 500 }),
  label: field.string(),
  strict: field.boolean({ default: false }),
};

const NAME_RULE = '1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`';

// Every error row: the text the Rust SDK gave for the same config and
// struct (rust_config_errors.json).
const RUST = JSON.parse(readFileSync(new URL('./rust_config_errors.json', import.meta.url), 'utf8'));
const STRUCTS = { Config: SENSITIVE, Scalars: SCALARS };

test('config errors are the Rust SDK\'s, word for word', () => {
  assert.ok(RUST.rows.length > 90);
  for (const { struct, config, error } of RUST.rows) {
    assert.throws(
      () => parseConfig(config, struct, STRUCTS[struct]),
      (e) => e instanceof ConfigError && e.message === error,
      `${struct} ${JSON.stringify(config)}: expected ${error}`,
    );
  }
});

// (fields, config text, the parsed config)
const ACCEPTED = [
  [SENSITIVE, '{}', { forbidden: [], require_approval: [], allowed: null }],
  [SENSITIVE, '{"allowed":null}', { forbidden: [], require_approval: [], allowed: null }],
  [SENSITIVE, '[["a"],[],null]', { forbidden: ['a'], require_approval: [], allowed: null }],
  [SENSITIVE, ' {"forbidden":["a\\u00e9\\ud83d\\ude00\\n"]} ',
    { forbidden: ['a\u00e9\u{1f600}\n'], require_approval: [], allowed: null }],
  [SCALARS, '{"label":"x"}', { review_above: 500, label: 'x', strict: false }],
  [SCALARS, '{"label":"x","review_above":10,"strict":true}', { review_above: 10, label: 'x', strict: true }],
  [SCALARS, '{"label":"x","review_above":2.5e1}', { review_above: 25, label: 'x', strict: false }],
  [SCALARS, '[1,"x"]', { review_above: 1, label: 'x', strict: false }],
];

test('accepted configs get their values and defaults', () => {
  for (const [fields, text, expected] of ACCEPTED) {
    assert.deepEqual(parseConfig(text, 'Config', fields), expected, text);
  }
});

test('errors describe a bad name without repeating it', () => {
  const e = ConfigError.key('forbidden[0]', `is empty; a name is ${NAME_RULE}`);
  assert.equal(e.message, `config key \`forbidden[0]\`: is empty; a name is ${NAME_RULE}`);
});

test('floats print like Rust', () => {
  // (value, text)
  const rows = [
    [1.5, '1.5'], [1.0, '1.0'], [1e16, '1e+16'], [1e15, '1000000000000000.0'],
    [1e-7, '1e-7'], [1.2e-5, '0.000012'], [-0.0, '-0.0'], [1.5e300, '1.5e+300'],
    [123.456, '123.456'], [0.1, '0.1'],
  ];
  for (const [value, text] of rows) assert.equal(formatFloat(value), text, String(value));
});
