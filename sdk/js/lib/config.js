// Typed policy config: JSON from the operator's manifest, checked like the
// Rust SDK's `parse_config` (sdk/src/config.rs: serde_json,
// serde_path_to_error and serde_ignored) checks a flat struct. Unknown
// keys are refused, and every error text is the Rust SDK's, word for word,
// down to serde_json's line and column.
//
//   const config = parseConfig(text, 'Config', {
//     forbidden: field.list(),                  // #[serde(default)] Vec<String>
//     allowed: field.optional(field.list()),    // Option<Vec<String>>
//     review_above: field.number({ default: 500 }),  // #[serde(default = ..)] f64
//   });
//
// Fields are listed in the order the Rust struct would declare them (it
// matters for a config written as a JSON array, as serde accepts).

import { JsonError, Reader, tag, EOF_VALUE, TRAILING_CHARACTERS } from './json_reader.js';

/** Why a config was refused. The message names the offending key. */
export class ConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConfigError';
  }

  /** `ConfigError::key`: an error about `key` (e.g. `forbidden[2]`). */
  static key(key, problem) {
    return new ConfigError(`config key \`${key}\`: ${problem}`);
  }
}

// Path segments, as serde_path_to_error shows them.
const UNKNOWN_KEY = Object.freeze({ kind: 'unknown' });
const seq = (index) => ({ kind: 'seq', index });
const map = (key) => ({ kind: 'map', key });

function pathText(path) {
  if (!path || path.length === 0) return '.';
  let out = '';
  let separator = '';
  for (const segment of path) {
    if (segment.kind === 'seq') out += `[${segment.index}]`;
    else out += separator + (segment.kind === 'map' ? segment.key : '?');
    separator = '.';
  }
  return out;
}

/** Read one value of `kind` at `path`, tagging errors with the path. */
function tagged(path, read) {
  try {
    return read();
  } catch (e) {
    throw tag(e, path);
  }
}

// --- field kinds -----------------------------------------------------------
//
// Each kind reads its value (`read(reader, path)`) and says what it is when
// it is missing (`missing()`: its default, or undefined when required).

function stringValue(reader, path) {
  return tagged(path, () => {
    const byte = reader.whitespace();
    if (byte === undefined) throw reader.peekError(EOF_VALUE);
    if (byte === 0x22) {
      reader.index += 1;
      return reader.string();
    }
    throw reader.invalidType('a string');
  });
}

function numberValue(reader, path) {
  return tagged(path, () => {
    const byte = reader.whitespace();
    if (byte === undefined) throw reader.peekError(EOF_VALUE);
    if (byte === 0x2d || (byte >= 0x30 && byte <= 0x39)) {
      const positive = byte !== 0x2d;
      if (!positive) reader.index += 1;
      try {
        return Number(reader.number(positive));
      } catch (e) {
        throw reader.fix(e);
      }
    }
    throw reader.invalidType('f64');
  });
}

function booleanValue(reader, path) {
  return tagged(path, () => {
    const byte = reader.whitespace();
    if (byte === undefined) throw reader.peekError(EOF_VALUE);
    try {
      if (byte === 0x74) {
        reader.index += 1;
        reader.ident('rue');
        return true;
      }
      if (byte === 0x66) {
        reader.index += 1;
        reader.ident('alse');
        return false;
      }
    } catch (e) {
      throw reader.fix(e);
    }
    throw reader.invalidType('a boolean');
  });
}

function listValue(reader, path) {
  return tagged(path, () => {
    const byte = reader.whitespace();
    if (byte === undefined) throw reader.peekError(EOF_VALUE);
    if (byte !== 0x5b) throw reader.invalidType('a sequence');
    reader.index += 1;
    const items = [];
    while (reader.hasNextElement(items.length === 0)) {
      items.push(stringValue(reader, [...path, seq(items.length)]));
    }
    reader.endSeq();
    return items;
  });
}

function kind(name, read, options = {}) {
  const hasDefault = Object.hasOwn(options, 'default');
  return Object.freeze({
    name,
    read,
    hasDefault,
    missing: () => (hasDefault ? structuredCloneSafe(options.default) : undefined),
  });
}

function structuredCloneSafe(value) {
  return Array.isArray(value) ? [...value] : value;
}

/** Field kinds, named after the Rust types they stand for. */
export const field = Object.freeze({
  /** `#[serde(default)] Vec<String>`: missing means `[]`. */
  list: () => kind('list', listValue, { default: [] }),
  /** `String`; with `{default}`, `#[serde(default = ..)]`. */
  string: (options) => kind('string', stringValue, options),
  /** `f64` (any JSON number); with `{default}`, `#[serde(default = ..)]`. */
  number: (options) => kind('number', numberValue, options),
  /** `bool`; with `{default}`, `#[serde(default = ..)]`. */
  boolean: (options) => kind('boolean', booleanValue, options),
  /** `Option<T>`: missing or `null` means `null`. */
  optional: (inner) =>
    Object.freeze({
      name: `optional ${inner.name}`,
      hasDefault: false,
      optional: true,
      missing: () => null,
      read: (reader, path) => {
        const isNull = tagged(path, () => {
          if (reader.whitespace() !== 0x6e) return false;
          reader.index += 1;
          reader.ident('ull');
          return true;
        });
        return isNull ? null : inner.read(reader, path);
      },
    }),
});

// --- the struct ------------------------------------------------------------

function visitMap(reader, name, fields, unknown) {
  const values = {};
  const seen = new Set();
  let first = true;
  for (;;) {
    let key;
    try {
      if (!reader.hasNextKey(first)) break;
      first = false;
      reader.index += 1;
      key = reader.string();
    } catch (e) {
      throw tag(e, [UNKNOWN_KEY]);
    }
    const path = [map(key)];
    const kindOf = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (kindOf === undefined) {
      unknown.push(key);
      reader.colon();
      tagged(path, () => reader.skipValue());
      continue;
    }
    if (seen.has(key)) throw new JsonError(`duplicate field \`${key}\``);
    seen.add(key);
    reader.colon();
    values[key] = kindOf.read(reader, path);
  }
  // serde's derive: defaults, then the first missing required field.
  for (const [field, kindOf] of Object.entries(fields)) {
    if (seen.has(field)) continue;
    const value = kindOf.missing();
    if (value === undefined) throw new JsonError(`missing field \`${field}\``);
    values[field] = value;
  }
  return values;
}

function visitSeq(reader, name, fields) {
  const values = {};
  const entries = Object.entries(fields);
  let first = true;
  for (const [index, [field, kindOf]] of entries.entries()) {
    const present = tagged([], () => reader.hasNextElement(first));
    if (present) {
      first = false;
      values[field] = kindOf.read(reader, [seq(index)]);
    } else if (kindOf.hasDefault) {
      values[field] = kindOf.missing();
    } else {
      throw new JsonError(
        `invalid length ${index}, expected struct ${name} with ${entries.length} elements`,
      );
    }
  }
  return values;
}

function readStruct(reader, name, fields, unknown) {
  return tagged([], () => {
    const byte = reader.whitespace();
    if (byte === undefined) throw reader.peekError(EOF_VALUE);
    let end;
    let visit;
    if (byte === 0x7b) {
      reader.index += 1;
      end = () => reader.endMap();
      visit = visitMap;
    } else if (byte === 0x5b) {
      reader.index += 1;
      end = () => reader.endSeq();
      visit = visitSeq;
    } else {
      throw reader.invalidType(`struct ${name}`);
    }
    let values;
    try {
      values = visit(reader, name, fields, unknown);
    } catch (e) {
      end(); // serde_json ends the map or list before it reports
      throw reader.fix(e);
    }
    const error = end();
    if (error !== undefined) throw error;
    return values;
  });
}

/**
 * Parse `text` like `gavel_sdk::parse_config` parses it into a Rust struct
 * named `name` with `fields` ({field name: kind}, in declaration order).
 * Returns an object with every field (defaults filled in); throws a
 * `ConfigError` naming the key at fault.
 */
export function parseConfig(text, name, fields) {
  if (typeof text !== 'string') throw new TypeError('parseConfig: the config must be JSON text');
  const reader = new Reader(text);
  const unknown = [];
  let values;
  try {
    values = readStruct(reader, name, fields, unknown);
  } catch (e) {
    if (!(e instanceof JsonError)) throw e;
    const path = pathText(e.path);
    if (path === '.' || path === '') throw new ConfigError('config: ' + reader.describe(e));
    throw ConfigError.key(path, reader.describe(e));
  }
  if (reader.whitespace() !== undefined) {
    throw new ConfigError('config: ' + reader.describe(reader.peekError(TRAILING_CHARACTERS)));
  }
  if (unknown.length > 0) throw new ConfigError(`unknown config key \`${unknown[0]}\``);
  return values;
}
