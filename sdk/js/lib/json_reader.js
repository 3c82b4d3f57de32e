// serde_json's `Deserializer<StrRead>`, reduced to what a flat config
// struct needs: the same accepted inputs, the same error texts and the
// same byte positions. A port of the Python twin's `gavel_config.py`
// (policies-src/sensitive-actions-py/src), which reproduces the Rust
// SDK's `parse_config` (sdk/src/config.rs) byte for byte.

import { debugStr } from './rust_debug.js';

// serde_json's syntax errors.
export const EOF_LIST = 'EOF while parsing a list';
export const EOF_OBJECT = 'EOF while parsing an object';
export const EOF_STRING = 'EOF while parsing a string';
export const EOF_VALUE = 'EOF while parsing a value';
export const EXPECTED_COLON = 'expected `:`';
export const EXPECTED_LIST_COMMA_OR_END = 'expected `,` or `]`';
export const EXPECTED_OBJECT_COMMA_OR_END = 'expected `,` or `}`';
export const EXPECTED_IDENT = 'expected ident';
export const EXPECTED_VALUE = 'expected value';
export const INVALID_ESCAPE = 'invalid escape';
export const INVALID_NUMBER = 'invalid number';
export const NUMBER_OUT_OF_RANGE = 'number out of range';
export const CONTROL_CHARACTER =
  'control character (\\u0000-\\u001F) found while parsing a string';
export const KEY_MUST_BE_A_STRING = 'key must be a string';
export const LONE_LEADING_SURROGATE = 'lone leading surrogate in hex escape';
export const TRAILING_COMMA = 'trailing comma';
export const TRAILING_CHARACTERS = 'trailing characters';
export const UNEXPECTED_END_OF_HEX_ESCAPE = 'unexpected end of hex escape';

const U64_MAX = (1n << 64n) - 1n;
const I32_MAX = 2 ** 31 - 1;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_LIST = 0x5b;
const CLOSE_LIST = 0x5d;
const OPEN_MAP = 0x7b;
const CLOSE_MAP = 0x7d;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;

const SIMPLE_ESCAPES = new Map([
  [0x22, [0x22]],
  [0x5c, [0x5c]],
  [0x2f, [0x2f]],
  [0x62, [0x08]],
  [0x66, [0x0c]],
  [0x6e, [0x0a]],
  [0x72, [0x0d]],
  [0x74, [0x09]],
]);

const isWhitespace = (b) => b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d;
const isDigit = (b) => b >= 0x30 && b <= 0x39;
const isHex = (b) =>
  isDigit(b) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46);

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');

/**
 * A serde_json error: a message, a byte index (undefined until serde_json
 * would fix its position) and the key path serde_path_to_error records
 * (undefined until an enclosing value tags it).
 */
export class JsonError extends Error {
  constructor(message, index) {
    super(message);
    this.problem = message;
    this.index = index;
    this.path = undefined;
  }
}

/** serde_path_to_error keeps the innermost path an error passed through. */
export function tag(error, path) {
  if (error instanceof JsonError && error.path === undefined) error.path = path;
  return error;
}

/** A float as serde_json writes it in messages (the zmij crate). */
export function formatFloat(value) {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'inf';
  if (value === -Infinity) return '-inf';
  const sign = value < 0 || Object.is(value, -0) ? '-' : '';
  if (value === 0) return sign + '0.0';
  // The shortest digits that read back as the same float.
  const [mantissa, expText] = Math.abs(value).toExponential().split('e');
  let exponent = parseInt(expText, 10);
  const [whole, fraction = ''] = mantissa.split('.');
  let digits = whole + fraction;
  exponent += whole.length - 1;
  const stripped = digits.replace(/^0+/, '');
  exponent -= digits.length - stripped.length;
  digits = stripped.replace(/0+$/, '') || '0';
  let body;
  if (exponent >= -5 && exponent <= 15) {
    if (digits.length - 1 <= exponent) {
      body = digits + '0'.repeat(exponent + 1 - digits.length) + '.0';
    } else if (exponent >= 0) {
      body = digits.slice(0, exponent + 1) + '.' + digits.slice(exponent + 1);
    } else {
      body = '0.' + '0'.repeat(-exponent - 1) + digits;
    }
  } else {
    body = digits[0];
    if (digits.length > 1) body += '.' + digits.slice(1);
    body += 'e' + (exponent >= 0 ? '+' : '-') + String(Math.abs(exponent));
  }
  return sign + body;
}

/** serde_json's reader over the UTF-8 bytes of a text. */
export class Reader {
  constructor(text) {
    this.data = encoder.encode(text);
    this.index = 0;
  }

  // --- positions and errors ---------------------------------------------

  /** [line, column] of a byte index, as serde_json counts them. */
  position(index) {
    const data = this.data;
    let line = 1;
    let startOfLine = 0;
    for (let i = 0; i < index && i < data.length; i++) {
      if (data[i] === 0x0a) {
        line += 1;
        startOfLine = i + 1;
      }
    }
    return [line, index - startOfLine];
  }

  error(message) {
    return new JsonError(message, this.index);
  }

  peekError(message) {
    return new JsonError(message, Math.min(this.data.length, this.index + 1));
  }

  fix(error) {
    if (error.index === undefined) error.index = this.index;
    return error;
  }

  describe(error) {
    const [line, column] = this.position(error.index);
    return `${error.problem} at line ${line} column ${column}`;
  }

  // --- bytes ---------------------------------------------------------------

  peek() {
    return this.index < this.data.length ? this.data[this.index] : undefined;
  }

  peekOrNull() {
    return this.index < this.data.length ? this.data[this.index] : 0;
  }

  nextChar() {
    if (this.index < this.data.length) {
      this.index += 1;
      return this.data[this.index - 1];
    }
    return undefined;
  }

  /** Skip whitespace; the byte after it, or undefined at the end. */
  whitespace() {
    const data = this.data;
    let index = this.index;
    while (index < data.length && isWhitespace(data[index])) index += 1;
    this.index = index;
    return index < data.length ? data[index] : undefined;
  }

  ident(rest) {
    for (let i = 0; i < rest.length; i++) {
      const got = this.nextChar();
      if (got === undefined) throw this.error(EOF_VALUE);
      if (got !== rest.charCodeAt(i)) throw this.error(EXPECTED_IDENT);
    }
  }

  // --- strings -------------------------------------------------------------

  skipToEscape() {
    const data = this.data;
    let index = this.index;
    while (index < data.length) {
      const byte = data[index];
      if (byte === QUOTE || byte === BACKSLASH || byte < 0x20) break;
      index += 1;
    }
    this.index = index;
  }

  hexEscape() {
    const data = this.data;
    if (data.length - this.index >= 4) {
      let value = 0;
      let bad = false;
      for (let i = 0; i < 4; i++) {
        const byte = data[this.index + i];
        if (!isHex(byte)) bad = true;
        value = value * 16 + parseInt(String.fromCharCode(byte), 16);
      }
      this.index += 4;
      if (bad) throw this.error(INVALID_ESCAPE);
      return value;
    }
    this.index = data.length;
    throw this.error(EOF_STRING);
  }

  nextOrEof() {
    const byte = this.nextChar();
    if (byte === undefined) throw this.error(EOF_STRING);
    return byte;
  }

  peekOrEof() {
    const byte = this.peek();
    if (byte === undefined) throw this.error(EOF_STRING);
    return byte;
  }

  /** The rest of a string whose opening quote was eaten. */
  string() {
    const data = this.data;
    const scratch = [];
    let start = this.index;
    for (;;) {
      this.skipToEscape();
      if (this.index === data.length) throw this.error(EOF_STRING);
      const byte = data[this.index];
      if (byte === QUOTE) {
        for (let i = start; i < this.index; i++) scratch.push(data[i]);
        this.index += 1;
        return decoder.decode(Uint8Array.from(scratch));
      }
      if (byte === BACKSLASH) {
        for (let i = start; i < this.index; i++) scratch.push(data[i]);
        this.index += 1;
        this.escape(scratch);
        start = this.index;
      } else {
        this.index += 1;
        throw this.error(CONTROL_CHARACTER);
      }
    }
  }

  escape(scratch) {
    const byte = this.nextOrEof();
    const simple = SIMPLE_ESCAPES.get(byte);
    if (simple !== undefined) {
      scratch.push(...simple);
      return;
    }
    if (byte !== 0x75) throw this.error(INVALID_ESCAPE);
    const first = this.hexEscape();
    if (first >= 0xdc00 && first <= 0xdfff) throw this.error(LONE_LEADING_SURROGATE);
    if (!(first >= 0xd800 && first <= 0xdbff)) {
      scratch.push(...encoder.encode(String.fromCodePoint(first)));
      return;
    }
    for (const expected of [BACKSLASH, 0x75]) {
      if (this.peekOrEof() !== expected) {
        this.index += 1;
        throw this.error(UNEXPECTED_END_OF_HEX_ESCAPE);
      }
      this.index += 1;
    }
    const second = this.hexEscape();
    if (!(second >= 0xdc00 && second <= 0xdfff)) throw this.error(LONE_LEADING_SURROGATE);
    const code = (((first - 0xd800) << 10) | (second - 0xdc00)) + 0x10000;
    scratch.push(...encoder.encode(String.fromCodePoint(code)));
  }

  skipString() {
    const data = this.data;
    for (;;) {
      this.skipToEscape();
      if (this.index === data.length) throw this.error(EOF_STRING);
      let byte = data[this.index];
      if (byte === QUOTE) {
        this.index += 1;
        return;
      }
      if (byte === BACKSLASH) {
        this.index += 1;
        byte = this.nextOrEof();
        if (byte === 0x75) this.hexEscape();
        else if (!SIMPLE_ESCAPES.has(byte)) throw this.error(INVALID_ESCAPE);
      } else {
        throw this.error(CONTROL_CHARACTER);
      }
    }
  }

  // --- numbers -------------------------------------------------------------

  /**
   * serde_json's `parse_integer` (with `float_roundtrip`): a BigInt for
   * u64 / i64 values, a number otherwise.
   */
  number(positive) {
    const data = this.data;
    const start = this.index;
    const first = this.nextChar();
    if (first === undefined) throw this.error(EOF_VALUE);
    if (first === ZERO) {
      if (isDigit(this.peekOrNull())) throw this.peekError(INVALID_NUMBER);
    } else if (first >= 0x31 && first <= 0x39) {
      while (isDigit(this.peekOrNull())) this.index += 1;
    } else {
      throw this.error(INVALID_NUMBER);
    }
    const integerEnd = this.index;
    let following = this.peekOrNull();
    if (following === DOT) {
      this.index += 1;
      const digitsStart = this.index;
      while (isDigit(this.peekOrNull())) this.index += 1;
      if (this.index === digitsStart) {
        if (this.peek() === undefined) throw this.peekError(EOF_VALUE);
        throw this.peekError(INVALID_NUMBER);
      }
      following = this.peekOrNull();
    }
    const text = (from, to) => String.fromCharCode(...data.subarray(from, to));
    let value;
    if (following === 0x65 || following === 0x45) {
      const mantissa = text(start, this.index);
      this.index += 1;
      let expPositive = true;
      const sign = this.peekOrNull();
      if (sign === PLUS || sign === MINUS) {
        expPositive = sign === PLUS;
        this.index += 1;
      }
      const digit = this.nextChar();
      if (digit === undefined) throw this.error(EOF_VALUE);
      if (!isDigit(digit)) throw this.error(INVALID_NUMBER);
      let exponent = digit - ZERO;
      while (isDigit(this.peekOrNull())) {
        const d = data[this.index];
        this.index += 1;
        exponent = exponent * 10 + d - ZERO;
        if (exponent > I32_MAX) {
          const zero = mantissa.replace(/[0.]/g, '') === '';
          if (!zero && expPositive) throw this.error(NUMBER_OUT_OF_RANGE);
          while (isDigit(this.peekOrNull())) this.index += 1;
          return positive ? 0 : -0;
        }
      }
      value = Number(text(start, this.index));
    } else if (this.index === integerEnd) {
      const significand = BigInt(text(start, integerEnd));
      if (significand <= U64_MAX) {
        if (positive) return significand;
        if (significand >= 1n && significand <= 1n << 63n) return -significand;
        return -Number(significand);
      }
      value = Number(significand);
    } else {
      value = Number(text(start, this.index));
    }
    if (!Number.isFinite(value)) throw this.error(NUMBER_OUT_OF_RANGE);
    return positive ? value : -value;
  }

  skipNumber() {
    const first = this.nextChar();
    if (first === ZERO) {
      if (isDigit(this.peekOrNull())) throw this.peekError(INVALID_NUMBER);
    } else if (first !== undefined && first >= 0x31 && first <= 0x39) {
      while (isDigit(this.peekOrNull())) this.index += 1;
    } else {
      throw this.error(INVALID_NUMBER);
    }
    if (this.peekOrNull() === DOT) {
      this.index += 1;
      const start = this.index;
      while (isDigit(this.peekOrNull())) this.index += 1;
      if (this.index === start) throw this.peekError(INVALID_NUMBER);
    }
    const e = this.peekOrNull();
    if (e === 0x65 || e === 0x45) {
      this.index += 1;
      const sign = this.peekOrNull();
      if (sign === PLUS || sign === MINUS) this.index += 1;
      const digit = this.nextChar();
      if (digit === undefined || !isDigit(digit)) throw this.error(INVALID_NUMBER);
      while (isDigit(this.peekOrNull())) this.index += 1;
    }
  }

  // --- values --------------------------------------------------------------

  /**
   * serde_json's `peek_invalid_type`: reads the value that is there and
   * says what it is instead of `expected`.
   */
  invalidType(expected) {
    const byte = this.peekOrNull();
    let unexpected;
    if (byte === 0x6e) {
      this.index += 1;
      this.ident('ull');
      unexpected = 'null';
    } else if (byte === 0x74) {
      this.index += 1;
      this.ident('rue');
      unexpected = 'boolean `true`';
    } else if (byte === 0x66) {
      this.index += 1;
      this.ident('alse');
      unexpected = 'boolean `false`';
    } else if (byte === MINUS || isDigit(byte)) {
      const positive = byte !== MINUS;
      if (!positive) this.index += 1;
      const value = this.number(positive);
      unexpected =
        typeof value === 'bigint'
          ? `integer \`${value}\``
          : `floating point \`${formatFloat(value)}\``;
    } else if (byte === QUOTE) {
      this.index += 1;
      unexpected = 'string ' + debugStr(this.string());
    } else if (byte === OPEN_LIST) {
      unexpected = 'sequence';
    } else if (byte === OPEN_MAP) {
      unexpected = 'map';
    } else {
      throw this.peekError(EXPECTED_VALUE);
    }
    return this.fix(new JsonError(`invalid type: ${unexpected}, expected ${expected}`));
  }

  /** serde_json's `ignore_value`. */
  skipValue() {
    const stack = [];
    for (;;) {
      const byte = this.whitespace();
      if (byte === undefined) throw this.peekError(EOF_VALUE);
      if (byte === 0x6e) {
        this.index += 1;
        this.ident('ull');
      } else if (byte === 0x74) {
        this.index += 1;
        this.ident('rue');
      } else if (byte === 0x66) {
        this.index += 1;
        this.ident('alse');
      } else if (byte === MINUS) {
        this.index += 1;
        this.skipNumber();
      } else if (isDigit(byte)) {
        this.skipNumber();
      } else if (byte === QUOTE) {
        this.index += 1;
        this.skipString();
      } else if (byte === OPEN_LIST || byte === OPEN_MAP) {
        this.index += 1;
        stack.push(byte);
        if (this.skipOpen(stack, false)) return;
        continue;
      } else {
        throw this.peekError(EXPECTED_VALUE);
      }
      if (stack.length === 0) return;
      if (this.skipOpen(stack, true)) return;
    }
  }

  /**
   * After a value (or an opening bracket) inside `stack`: close what
   * closes, then get ready for the next value. True when all is closed.
   */
  skipOpen(stack, acceptComma) {
    let frame = stack[stack.length - 1];
    for (;;) {
      const byte = this.whitespace();
      if (byte === COMMA && acceptComma) {
        this.index += 1;
        break;
      }
      if ((byte === CLOSE_LIST && frame === OPEN_LIST) || (byte === CLOSE_MAP && frame === OPEN_MAP)) {
        this.index += 1;
        stack.pop();
        if (stack.length === 0) return true;
        frame = stack[stack.length - 1];
        acceptComma = true;
        continue;
      }
      if (byte === undefined) throw this.peekError(frame === OPEN_LIST ? EOF_LIST : EOF_OBJECT);
      if (acceptComma) {
        throw this.peekError(
          frame === OPEN_LIST ? EXPECTED_LIST_COMMA_OR_END : EXPECTED_OBJECT_COMMA_OR_END,
        );
      }
      break;
    }
    if (frame === OPEN_MAP) {
      let byte = this.whitespace();
      if (byte === QUOTE) this.index += 1;
      else if (byte === undefined) throw this.peekError(EOF_OBJECT);
      else throw this.peekError(KEY_MUST_BE_A_STRING);
      this.skipString();
      byte = this.whitespace();
      if (byte === COLON) this.index += 1;
      else if (byte === undefined) throw this.peekError(EOF_OBJECT);
      else throw this.peekError(EXPECTED_COLON);
    }
    return false;
  }

  /** After a list's elements: undefined, or the error serde_json reports. */
  endSeq() {
    const byte = this.whitespace();
    if (byte === CLOSE_LIST) {
      this.index += 1;
      return undefined;
    }
    if (byte === COMMA) {
      this.index += 1;
      if (this.whitespace() === CLOSE_LIST) return this.peekError(TRAILING_COMMA);
      return this.peekError(TRAILING_CHARACTERS);
    }
    if (byte === undefined) return this.peekError(EOF_LIST);
    return this.peekError(TRAILING_CHARACTERS);
  }

  /** After a map's entries: undefined, or the error serde_json reports. */
  endMap() {
    const byte = this.whitespace();
    if (byte === CLOSE_MAP) {
      this.index += 1;
      return undefined;
    }
    if (byte === COMMA) return this.peekError(TRAILING_COMMA);
    if (byte === undefined) return this.peekError(EOF_OBJECT);
    return this.peekError(TRAILING_CHARACTERS);
  }

  hasNextElement(first) {
    let byte = this.whitespace();
    if (byte === undefined) throw this.peekError(EOF_LIST);
    if (byte === CLOSE_LIST) return false;
    if (first) return true;
    if (byte === COMMA) {
      this.index += 1;
      byte = this.whitespace();
      if (byte === CLOSE_LIST) throw this.peekError(TRAILING_COMMA);
      if (byte === undefined) throw this.peekError(EOF_VALUE);
      return true;
    }
    throw this.peekError(EXPECTED_LIST_COMMA_OR_END);
  }

  hasNextKey(first) {
    let byte = this.whitespace();
    if (byte === undefined) throw this.peekError(EOF_OBJECT);
    if (byte === CLOSE_MAP) return false;
    if (first) {
      if (byte === QUOTE) return true;
      throw this.peekError(KEY_MUST_BE_A_STRING);
    }
    if (byte === COMMA) {
      this.index += 1;
      byte = this.whitespace();
      if (byte === QUOTE) return true;
      if (byte === CLOSE_MAP) throw this.peekError(TRAILING_COMMA);
      if (byte === undefined) throw this.peekError(EOF_VALUE);
      throw this.peekError(KEY_MUST_BE_A_STRING);
    }
    throw this.peekError(EXPECTED_OBJECT_COMMA_OR_END);
  }

  /**
   * Between a key and its value. serde_path_to_error puts an error here
   * on the map, not on the key.
   */
  colon() {
    const byte = this.whitespace();
    if (byte === COLON) this.index += 1;
    else if (byte === undefined) throw this.peekError(EOF_OBJECT);
    else throw this.peekError(EXPECTED_COLON);
  }
}
