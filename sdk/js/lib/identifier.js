// Action names and agent ids, as the host hands them over (the Rust SDK's
// sdk/src/identifier.rs): 1-128 ASCII letters, digits, `_`, `-`, `.`, `:`
// and `/`, matched ASCII-case-insensitively everywhere.

/** Longest action name or agent id the host accepts, in characters. */
export const MAX_IDENTIFIER_CHARS = 128;

const RULE = '1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`';

/** Whether `char` (one code point) may appear in a name. */
export function isIdentifierChar(char) {
  return /^[A-Za-z0-9_\-.:/]$/.test(char);
}

const NON_ASCII = /[^\x00-\x7f]/;

/** `name` in ASCII lower case: the form to key a map of names by. */
export function identifierKey(name) {
  // `toLowerCase` folds far more than ASCII (the Kelvin sign becomes `k`),
  // so it is used only on ASCII text, which is every name the host sends.
  if (!NON_ASCII.test(name)) return name.toLowerCase();
  return name.replace(/[A-Z]+/g, (run) => run.toLowerCase());
}

/** Whether two names are the same name (ASCII case folded). */
export function sameIdentifier(a, b) {
  return a.length === b.length && identifierKey(a) === identifierKey(b);
}

/**
 * Why `name` is not a name the host would accept, or null. The text is the
 * Rust SDK's; a bad character is described by position (in code points)
 * and code point, never repeated.
 */
export function identifierProblem(name) {
  if (name.length === 0) return `is empty; a name is ${RULE}`;
  let index = 0;
  for (const char of name) {
    if (!isIdentifierChar(char)) {
      const hex = char.codePointAt(0).toString(16).toUpperCase().padStart(4, '0');
      return `character ${index} (U+${hex}) is not allowed; a name is ${RULE}`;
    }
    index += 1;
  }
  if (name.length > MAX_IDENTIFIER_CHARS) {
    return `is ${name.length} characters long; a name is ${RULE}`;
  }
  return null;
}
