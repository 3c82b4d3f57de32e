// gavel_policy.c: see gavel_policy.h.
//
// The config parser is a port of
// policies-src/sensitive-actions-py/src/gavel_config.py, itself a faithful
// reduction of serde_json's `Deserializer<StrRead>` with
// serde_path_to_error and serde_ignored, as the Rust SDK's `parse_config`
// stacks them: the same accepted inputs, the same error texts, the same
// positions (bytes) and key paths.

#include "gavel_policy.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gavel_debug_table.h"

// ---- memory -----------------------------------------------------------------

// Out of memory is a trap: the host refuses the decision (or the config).
static void *xmalloc(size_t size) {
  void *p = malloc(size ? size : 1);
  if (!p) abort();
  return p;
}

static void *xrealloc(void *ptr, size_t size) {
  void *p = realloc(ptr, size ? size : 1);
  if (!p) abort();
  return p;
}

// A growable byte buffer, always NUL-terminated.
typedef struct buf {
  char *ptr;
  size_t len;
  size_t cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t more) {
  if (more > SIZE_MAX - b->len - 1) abort();
  size_t need = b->len + more + 1;
  if (need <= b->cap) return;
  size_t cap = b->cap ? b->cap : 32;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  b->ptr = xrealloc(b->ptr, cap);
  b->cap = cap;
}

static void buf_add(buf_t *b, const void *data, size_t len) {
  buf_reserve(b, len);
  if (len) memcpy(b->ptr + b->len, data, len);
  b->len += len;
  b->ptr[b->len] = '\0';
}

static void buf_addc(buf_t *b, char c) { buf_add(b, &c, 1); }

static void buf_adds(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

// The common formats (`%s`, `%.*s`, `%%` and text) without libc's printf
// machinery, which costs a few thousand units of fuel a call. False, with
// `b` unchanged, for any other conversion.
static bool buf_format_simple(buf_t *b, const char *format, va_list args) {
  size_t start = b->len;
  for (const char *p = format; *p; p++) {
    if (*p != '%') {
      const char *end = p;
      while (end[1] && end[1] != '%') end++;
      buf_add(b, p, (size_t)(end - p) + 1);
      p = end;
      continue;
    }
    if (p[1] == '%') {
      buf_addc(b, '%');
      p++;
    } else if (p[1] == 's') {
      const char *text = va_arg(args, const char *);
      buf_adds(b, text ? text : "(null)");
      p++;
    } else if (p[1] == '.' && p[2] == '*' && p[3] == 's') {
      int n = va_arg(args, int);
      const char *text = va_arg(args, const char *);
      size_t len = 0;
      // At most n bytes (all when n < 0), stopping at a NUL, as printf does.
      while ((n < 0 || len < (size_t)n) && text[len]) len++;
      buf_add(b, text, len);
      p += 3;
    } else {
      b->len = start;
      if (b->ptr) b->ptr[start] = '\0';
      return false;
    }
  }
  return true;
}

static void buf_vprintf(buf_t *b, const char *format, va_list args) {
  va_list simple;
  va_copy(simple, args);
  bool done = buf_format_simple(b, format, simple);
  va_end(simple);
  if (done) return;
  // One pass when the text fits the room left (the usual case), two when
  // it does not.
  buf_reserve(b, 120);
  size_t room = b->cap - b->len;
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(b->ptr + b->len, room, format, copy);
  va_end(copy);
  if (n < 0) abort();
  if ((size_t)n >= room) {
    buf_reserve(b, (size_t)n);
    vsnprintf(b->ptr + b->len, (size_t)n + 1, format, args);
  }
  b->len += (size_t)n;
}

static void buf_printf(buf_t *b, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf_t *b, const char *format, ...) {
  va_list args;
  va_start(args, format);
  buf_vprintf(b, format, args);
  va_end(args);
}

// The buffer's string (malloc'd, possibly empty), leaving the buffer empty.
static char *buf_take(buf_t *b) {
  if (!b->ptr) {
    char *empty = xmalloc(1);
    empty[0] = '\0';
    return empty;
  }
  char *s = b->ptr;
  b->ptr = NULL;
  b->len = b->cap = 0;
  return s;
}

static char *dup_n(const void *data, size_t len) {
  if (len == SIZE_MAX) abort();
  char *s = xmalloc(len + 1);
  if (len) memcpy(s, data, len);
  s[len] = '\0';
  return s;
}

// ---- verdicts and strings ---------------------------------------------------

char *gavel_format(const char *format, ...) {
  buf_t b = {0};
  va_list args;
  va_start(args, format);
  buf_vprintf(&b, format, args);
  va_end(args);
  return buf_take(&b);
}

char *gavel_key_error(const char *key, const char *format, ...) {
  buf_t b = {0};
  buf_printf(&b, "config key `%s`: ", key);
  va_list args;
  va_start(args, format);
  buf_vprintf(&b, format, args);
  va_end(args);
  return buf_take(&b);
}

void gavel_string_to_wit(char *message, policy_world_string_t *out) {
  size_t len = message ? strlen(message) : 0;
  if (len == 0) {
    // The bindings free only non-empty strings.
    free(message);
    out->ptr = NULL;
    out->len = 0;
    return;
  }
  out->ptr = (uint8_t *)message;
  out->len = len;
}

static void empty_outcome(gavel_outcome_t *out) {
  memset(out, 0, sizeof *out);
  out->findings.ptr = NULL;
  out->findings.len = 0;
  out->charges.ptr = NULL;
  out->charges.len = 0;
}

void gavel_approve(gavel_outcome_t *out) {
  empty_outcome(out);
  out->verdict.tag = EXPORTS_GAVEL_POLICY_POLICY_VERDICT_APPROVE;
}

static void set_reason(exports_gavel_policy_policy_reason_t *reason, const char *code,
                       const char *format, va_list args) {
  gavel_string_to_wit(dup_n(code, strlen(code)), &reason->code);
  buf_t b = {0};
  buf_reserve(&b, 127);  // most messages fit: one allocation
  buf_vprintf(&b, format, args);
  gavel_string_to_wit(buf_take(&b), &reason->message);
}

void gavel_deny(gavel_outcome_t *out, const char *code, const char *format, ...) {
  empty_outcome(out);
  out->verdict.tag = EXPORTS_GAVEL_POLICY_POLICY_VERDICT_DENY;
  va_list args;
  va_start(args, format);
  set_reason(&out->verdict.val.deny, code, format, args);
  va_end(args);
}

void gavel_escalate(gavel_outcome_t *out, const char *code, const char *format, ...) {
  empty_outcome(out);
  out->verdict.tag = EXPORTS_GAVEL_POLICY_POLICY_VERDICT_ESCALATE;
  va_list args;
  va_start(args, format);
  set_reason(&out->verdict.val.escalate, code, format, args);
  va_end(args);
}

void gavel_string_list_free(gavel_string_list_t *list) {
  if (!list) return;
  for (size_t i = 0; i < list->len; i++) free(list->items[i].ptr);
  free(list->items);
  list->items = NULL;
  list->len = 0;
}

static uint8_t ascii_lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

static bool eq_ascii_ci(const uint8_t *a, const uint8_t *b, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

bool gavel_starts_with_ascii_ci(const uint8_t *text, size_t len, const char *prefix) {
  size_t plen = strlen(prefix);
  return plen <= len && eq_ascii_ci(text, (const uint8_t *)prefix, plen);
}

bool gavel_same_identifier(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len) {
  return a_len == b_len && eq_ascii_ci(a, b, a_len);
}

// ---- UTF-8 ------------------------------------------------------------------

// The code point at `*i` in `s[0..len)`, advancing `*i`. A malformed
// sequence (never in a WIT string) reads as U+FFFD, one byte long.
static uint32_t utf8_next(const uint8_t *s, size_t len, size_t *i) {
  uint8_t c = s[*i];
  size_t need;
  uint32_t cp;
  uint32_t min;
  if (c < 0x80) {
    *i += 1;
    return c;
  } else if ((c & 0xE0) == 0xC0) {
    need = 1;
    cp = c & 0x1F;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    need = 2;
    cp = c & 0x0F;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    need = 3;
    cp = c & 0x07;
    min = 0x10000;
  } else {
    *i += 1;
    return 0xFFFD;
  }
  if (len - *i <= need) {
    *i += 1;
    return 0xFFFD;
  }
  for (size_t k = 1; k <= need; k++) {
    uint8_t cc = s[*i + k];
    if ((cc & 0xC0) != 0x80) {
      *i += 1;
      return 0xFFFD;
    }
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    *i += 1;
    return 0xFFFD;
  }
  *i += need + 1;
  return cp;
}

static void utf8_put(buf_t *b, uint32_t cp) {
  char out[4];
  size_t n;
  if (cp < 0x80) {
    out[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    n = 2;
  } else if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    n = 3;
  } else {
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    n = 4;
  }
  buf_add(b, out, n);
}

// ---- Rust's `<str as Debug>` ------------------------------------------------

static bool debug_escaped(uint32_t cp) {
  size_t lo = 0;
  size_t hi = sizeof GAVEL_DEBUG_ESCAPED / sizeof GAVEL_DEBUG_ESCAPED[0];
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cp < GAVEL_DEBUG_ESCAPED[mid][0]) {
      hi = mid;
    } else if (cp > GAVEL_DEBUG_ESCAPED[mid][1]) {
      lo = mid + 1;
    } else {
      return true;
    }
  }
  return false;
}

static void debug_str_into(buf_t *b, const uint8_t *text, size_t len) {
  buf_addc(b, '"');
  size_t i = 0;
  while (i < len) {
    size_t start = i;
    uint32_t cp = utf8_next(text, len, &i);
    switch (cp) {
      case 0: buf_adds(b, "\\0"); continue;
      case '\t': buf_adds(b, "\\t"); continue;
      case '\r': buf_adds(b, "\\r"); continue;
      case '\n': buf_adds(b, "\\n"); continue;
      case '\\': buf_adds(b, "\\\\"); continue;
      case '"': buf_adds(b, "\\\""); continue;
      default: break;
    }
    if (cp >= ' ' && cp <= '~') {
      buf_addc(b, (char)cp);
    } else if (debug_escaped(cp)) {
      buf_printf(b, "\\u{%x}", (unsigned)cp);
    } else if (cp == 0xFFFD && !(i - start == 3 && text[start] == 0xEF)) {
      utf8_put(b, cp);  // a malformed byte, never in a WIT string
    } else {
      buf_add(b, text + start, i - start);
    }
  }
  buf_addc(b, '"');
}

char *gavel_debug_str(const uint8_t *text, size_t len) {
  buf_t b = {0};
  debug_str_into(&b, text, len);
  return buf_take(&b);
}

// ---- serde_json's float formatting -----------------------------------------

void gavel_format_float(double value, char *out, size_t size) {
  if (size == 0) return;
  if (isnan(value)) {
    snprintf(out, size, "NaN");
    return;
  }
  if (isinf(value)) {
    snprintf(out, size, value > 0 ? "inf" : "-inf");
    return;
  }
  const char *sign = signbit(value) ? "-" : "";
  if (value == 0) {
    snprintf(out, size, "%s0.0", sign);
    return;
  }
  double magnitude = fabs(value);
  // The shortest digits that read back as the same double.
  char sci[40];
  for (int precision = 0; precision < 17; precision++) {
    snprintf(sci, sizeof sci, "%.*e", precision, magnitude);
    if (strtod(sci, NULL) == magnitude) break;
  }
  // sci is "d.ddde[+-]xx": digits and the exponent of the first digit.
  char digits[24];
  size_t n = 0;
  const char *p = sci;
  for (; *p && *p != 'e'; p++) {
    if (*p >= '0' && *p <= '9' && n < sizeof digits - 1) digits[n++] = *p;
  }
  int exponent = (*p == 'e') ? atoi(p + 1) : 0;
  while (n > 1 && digits[n - 1] == '0') n--;
  digits[n] = '\0';
  char body[64];
  if (exponent >= -5 && exponent <= 15) {
    if ((int)n - 1 <= exponent) {
      // All digits before the point, then zeros and ".0".
      size_t k = 0;
      for (size_t i = 0; i < n; i++) body[k++] = digits[i];
      for (int i = 0; i < exponent + 1 - (int)n; i++) body[k++] = '0';
      body[k++] = '.';
      body[k++] = '0';
      body[k] = '\0';
    } else if (exponent >= 0) {
      size_t whole = (size_t)exponent + 1;
      snprintf(body, sizeof body, "%.*s.%s", (int)whole, digits, digits + whole);
    } else {
      size_t k = 0;
      body[k++] = '0';
      body[k++] = '.';
      for (int i = 0; i < -exponent - 1; i++) body[k++] = '0';
      for (size_t i = 0; i < n; i++) body[k++] = digits[i];
      body[k] = '\0';
    }
  } else {
    if (n > 1) {
      snprintf(body, sizeof body, "%c.%se%c%d", digits[0], digits + 1, exponent >= 0 ? '+' : '-',
               exponent >= 0 ? exponent : -exponent);
    } else {
      snprintf(body, sizeof body, "%ce%c%d", digits[0], exponent >= 0 ? '+' : '-',
               exponent >= 0 ? exponent : -exponent);
    }
  }
  snprintf(out, size, "%s%s", sign, body);
}

// ---- names and action patterns ----------------------------------------------

#define NAME_RULE "1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`"
#define MAX_IDENTIFIER_CHARS 128

static bool is_identifier_char(uint32_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':' || c == '/';
}

char *gavel_identifier_problem(const uint8_t *name, size_t len) {
  if (len == 0) return gavel_format("is empty; a name is " NAME_RULE);
  size_t i = 0;
  size_t index = 0;
  while (i < len) {
    uint32_t cp = utf8_next(name, len, &i);
    if (!is_identifier_char(cp)) {
      return gavel_format("character %zu (U+%04X) is not allowed; a name is " NAME_RULE, index,
                          (unsigned)cp);
    }
    index++;
  }
  if (len > MAX_IDENTIFIER_CHARS) {
    return gavel_format("is %zu characters long; a name is " NAME_RULE, len);
  }
  return NULL;
}

void gavel_action_patterns_free(gavel_action_patterns_t *patterns) {
  if (!patterns) return;
  for (size_t i = 0; i < patterns->len; i++) free(patterns->items[i].text);
  free(patterns->items);
  patterns->items = NULL;
  patterns->len = 0;
}

// The Rust SDK's `ActionPattern::parse`: NULL, or why `text` is not a
// pattern.
static char *pattern_problem(const char *text, size_t len, gavel_pattern_kind_t *kind) {
  if (len == 0) return gavel_format("an action pattern must not be empty");
  bool wildcard = text[len - 1] == '*';
  size_t body_len = wildcard ? len - 1 : len;
  if (memchr(text, '*', body_len)) {
    // Written from the bytes: a config string may hold NUL.
    buf_t b = {0};
    buf_adds(&b, "action pattern `");
    buf_add(&b, text, len);
    buf_adds(&b, "`: `*` is allowed only at the end");
    return buf_take(&b);
  }
  if (body_len > 0) {
    char *problem = gavel_identifier_problem((const uint8_t *)text, body_len);
    if (problem) {
      char *message =
          gavel_format("an action pattern is an action name, optionally ending in `*`: %s", problem);
      free(problem);
      return message;
    }
  }
  *kind = body_len == 0 ? GAVEL_PATTERN_ANY : wildcard ? GAVEL_PATTERN_PREFIX : GAVEL_PATTERN_EXACT;
  return NULL;
}

bool gavel_action_patterns_parse(const char *key, const gavel_string_list_t *texts,
                                 gavel_action_patterns_t *out, char **error) {
  out->items = NULL;
  out->len = 0;
  *error = NULL;
  if (texts->len == 0) return true;
  if (texts->len > SIZE_MAX / sizeof *out->items) abort();
  out->items = xmalloc(texts->len * sizeof *out->items);
  for (size_t i = 0; i < texts->len; i++) {
    const gavel_string_t *t = &texts->items[i];
    gavel_pattern_kind_t kind = GAVEL_PATTERN_EXACT;
    char *problem = pattern_problem(t->ptr, t->len, &kind);
    if (problem) {
      *error = gavel_format("config key `%s[%zu]`: %s", key, i, problem);
      free(problem);
      gavel_action_patterns_free(out);
      return false;
    }
    out->items[i].kind = kind;
    out->items[i].text = dup_n(t->ptr, t->len);
    out->items[i].text_len = t->len;
    out->len = i + 1;
  }
  return true;
}

static bool pattern_matches(const gavel_action_pattern_t *p, const uint8_t *action, size_t len) {
  switch (p->kind) {
    case GAVEL_PATTERN_ANY:
      return true;
    case GAVEL_PATTERN_PREFIX: {
      size_t plen = p->text_len - 1;
      return plen <= len && eq_ascii_ci(action, (const uint8_t *)p->text, plen);
    }
    case GAVEL_PATTERN_EXACT:
      return p->text_len == len && eq_ascii_ci(action, (const uint8_t *)p->text, len);
  }
  return false;
}

bool gavel_action_patterns_match(const gavel_action_patterns_t *patterns, const uint8_t *action,
                                 size_t len) {
  for (size_t i = 0; i < patterns->len; i++) {
    if (pattern_matches(&patterns->items[i], action, len)) return true;
  }
  return false;
}

bool gavel_action_patterns_interest(const gavel_action_patterns_t *const *lists, size_t count,
                                    policy_world_list_string_t *ret) {
  size_t total = 0;
  for (size_t l = 0; l < count; l++) {
    for (size_t i = 0; i < lists[l]->len; i++) {
      if (lists[l]->items[i].kind == GAVEL_PATTERN_ANY) {
        ret->ptr = NULL;
        ret->len = 0;
        return false;
      }
    }
    total += lists[l]->len;
  }
  ret->len = total;
  ret->ptr = NULL;
  if (total == 0) return true;
  if (total > SIZE_MAX / sizeof *ret->ptr) abort();
  ret->ptr = xmalloc(total * sizeof *ret->ptr);
  size_t k = 0;
  for (size_t l = 0; l < count; l++) {
    for (size_t i = 0; i < lists[l]->len; i++) {
      const gavel_action_pattern_t *p = &lists[l]->items[i];
      // Never empty, so the bindings free it.
      ret->ptr[k].ptr = (uint8_t *)dup_n(p->text, p->text_len);
      ret->ptr[k].len = p->text_len;
      k++;
    }
  }
  return true;
}

// ---- the config parser: serde_json, reduced ---------------------------------

static const char EOF_LIST[] = "EOF while parsing a list";
static const char EOF_OBJECT[] = "EOF while parsing an object";
static const char EOF_STRING[] = "EOF while parsing a string";
static const char EOF_VALUE[] = "EOF while parsing a value";
static const char EXPECTED_COLON[] = "expected `:`";
static const char EXPECTED_LIST_COMMA_OR_END[] = "expected `,` or `]`";
static const char EXPECTED_OBJECT_COMMA_OR_END[] = "expected `,` or `}`";
static const char EXPECTED_IDENT[] = "expected ident";
static const char EXPECTED_VALUE[] = "expected value";
static const char INVALID_ESCAPE[] = "invalid escape";
static const char INVALID_NUMBER[] = "invalid number";
static const char NUMBER_OUT_OF_RANGE[] = "number out of range";
static const char CONTROL_CHARACTER[] =
    "control character (\\u0000-\\u001F) found while parsing a string";
static const char KEY_MUST_BE_A_STRING[] = "key must be a string";
static const char LONE_LEADING_SURROGATE[] = "lone leading surrogate in hex escape";
static const char TRAILING_COMMA[] = "trailing comma";
static const char TRAILING_CHARACTERS[] = "trailing characters";
static const char UNEXPECTED_END_OF_HEX_ESCAPE[] = "unexpected end of hex escape";

// A key path segment, as serde_path_to_error records it.
typedef enum seg_kind { SEG_SEQ, SEG_MAP, SEG_UNKNOWN } seg_kind_t;

typedef struct seg {
  seg_kind_t kind;
  size_t index;     // SEG_SEQ
  const char *key;  // SEG_MAP (borrowed while parsing)
  size_t key_len;
} seg_t;

#define MAX_PATH 2

// The pending error: serde_json's message, its byte index (once known) and
// the innermost key path it passed through (once tagged).
typedef struct jerr {
  char *message;
  bool has_index;
  size_t index;
  bool has_path;
  size_t path_len;
  seg_t path[MAX_PATH];
  char *path_keys[MAX_PATH];  // owned copies of the keys
} jerr_t;

typedef struct reader {
  const uint8_t *data;
  size_t len;
  size_t index;
  bool failed;
  jerr_t err;
} reader_t;

// A value read by `number`: serde_json's ParserNumber.
typedef enum num_kind { NUM_U64, NUM_I64, NUM_F64 } num_kind_t;
typedef struct num {
  num_kind_t kind;
  uint64_t u;
  int64_t i;
  double f;
} num_t;

static bool fail_at(reader_t *r, char *message, bool has_index, size_t index) {
  if (r->failed) {
    free(message);
    return false;
  }
  r->failed = true;
  r->err.message = message;
  r->err.has_index = has_index;
  r->err.index = index;
  return false;
}

// serde_json's `error`: at the current index.
static bool error(reader_t *r, const char *message) {
  return fail_at(r, dup_n(message, strlen(message)), true, r->index);
}

// serde_json's `peek_error`: one past the current index.
static bool peek_error(reader_t *r, const char *message) {
  size_t index = r->index < r->len ? r->index + 1 : r->len;
  return fail_at(r, dup_n(message, strlen(message)), true, index);
}

// An error without a position yet (`fix` places it).
static bool error_unplaced(reader_t *r, char *message) { return fail_at(r, message, false, 0); }

static void fix(reader_t *r) {
  if (r->failed && !r->err.has_index) {
    r->err.has_index = true;
    r->err.index = r->index;
  }
}

// serde_path_to_error keeps the innermost path an error passed through.
static bool tag(reader_t *r, const seg_t *path, size_t path_len) {
  if (r->failed && !r->err.has_path) {
    r->err.has_path = true;
    r->err.path_len = path_len;
    for (size_t i = 0; i < path_len && i < MAX_PATH; i++) {
      r->err.path[i] = path[i];
      if (path[i].kind == SEG_MAP) {
        r->err.path_keys[i] = dup_n(path[i].key, path[i].key_len);
        r->err.path[i].key = r->err.path_keys[i];
      }
    }
  }
  return false;
}

static void jerr_free(jerr_t *e) {
  free(e->message);
  e->message = NULL;
  for (size_t i = 0; i < MAX_PATH; i++) {
    free(e->path_keys[i]);
    e->path_keys[i] = NULL;
  }
}

static bool at_end(const reader_t *r) { return r->index >= r->len; }

static int peek(const reader_t *r) { return at_end(r) ? -1 : r->data[r->index]; }

static int peek_or_null(const reader_t *r) { return at_end(r) ? 0 : r->data[r->index]; }

static int next_char(reader_t *r) {
  if (at_end(r)) return -1;
  return r->data[r->index++];
}

static bool is_digit(int c) { return c >= '0' && c <= '9'; }

static int whitespace(reader_t *r) {
  while (r->index < r->len) {
    uint8_t c = r->data[r->index];
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') return c;
    r->index++;
  }
  return -1;
}

static bool ident(reader_t *r, const char *rest) {
  for (; *rest; rest++) {
    int got = next_char(r);
    if (got < 0) return error(r, EOF_VALUE);
    if (got != (uint8_t)*rest) return error(r, EXPECTED_IDENT);
  }
  return true;
}

// ---- strings ----

static void skip_to_escape(reader_t *r) {
  while (r->index < r->len) {
    uint8_t c = r->data[r->index];
    if (c == '"' || c == '\\' || c < 0x20) break;
    r->index++;
  }
}

static int hex_value(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool hex_escape(reader_t *r, uint32_t *out) {
  if (r->len - r->index >= 4) {
    const uint8_t *d = r->data + r->index;
    r->index += 4;
    uint32_t v = 0;
    for (int k = 0; k < 4; k++) {
      int h = hex_value(d[k]);
      if (h < 0) return error(r, INVALID_ESCAPE);
      v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return true;
  }
  r->index = r->len;
  return error(r, EOF_STRING);
}

static bool next_or_eof(reader_t *r, int *c) {
  *c = next_char(r);
  if (*c < 0) return error(r, EOF_STRING);
  return true;
}

static bool simple_escape(int c, char *out) {
  switch (c) {
    case '"': *out = '"'; return true;
    case '\\': *out = '\\'; return true;
    case '/': *out = '/'; return true;
    case 'b': *out = '\b'; return true;
    case 'f': *out = '\f'; return true;
    case 'n': *out = '\n'; return true;
    case 'r': *out = '\r'; return true;
    case 't': *out = '\t'; return true;
    default: return false;
  }
}

static bool escape(reader_t *r, buf_t *scratch) {
  int c;
  if (!next_or_eof(r, &c)) return false;
  char simple;
  if (simple_escape(c, &simple)) {
    buf_addc(scratch, simple);
    return true;
  }
  if (c != 'u') return error(r, INVALID_ESCAPE);
  uint32_t first;
  if (!hex_escape(r, &first)) return false;
  if (first >= 0xDC00 && first <= 0xDFFF) return error(r, LONE_LEADING_SURROGATE);
  if (!(first >= 0xD800 && first <= 0xDBFF)) {
    utf8_put(scratch, first);
    return true;
  }
  const char expected[2] = {'\\', 'u'};
  for (int k = 0; k < 2; k++) {
    int p = peek(r);
    if (p < 0) return error(r, EOF_STRING);
    if (p != expected[k]) {
      r->index++;
      return error(r, UNEXPECTED_END_OF_HEX_ESCAPE);
    }
    r->index++;
  }
  uint32_t second;
  if (!hex_escape(r, &second)) return false;
  if (!(second >= 0xDC00 && second <= 0xDFFF)) return error(r, LONE_LEADING_SURROGATE);
  uint32_t code = (((first - 0xD800) << 10) | (second - 0xDC00)) + 0x10000;
  utf8_put(scratch, code);
  return true;
}

// The rest of a string whose opening quote was eaten, into `out`.
static bool string(reader_t *r, buf_t *out) {
  size_t start = r->index;
  for (;;) {
    skip_to_escape(r);
    if (at_end(r)) return error(r, EOF_STRING);
    uint8_t c = r->data[r->index];
    if (c == '"') {
      buf_add(out, r->data + start, r->index - start);
      r->index++;
      if (!out->ptr) buf_reserve(out, 0);
      return true;
    }
    if (c == '\\') {
      buf_add(out, r->data + start, r->index - start);
      r->index++;
      if (!escape(r, out)) return false;
      start = r->index;
    } else {
      r->index++;
      return error(r, CONTROL_CHARACTER);
    }
  }
}

static bool skip_string(reader_t *r) {
  for (;;) {
    skip_to_escape(r);
    if (at_end(r)) return error(r, EOF_STRING);
    uint8_t c = r->data[r->index];
    if (c == '"') {
      r->index++;
      return true;
    }
    if (c == '\\') {
      r->index++;
      int e;
      if (!next_or_eof(r, &e)) return false;
      char simple;
      if (e == 'u') {
        uint32_t ignored;
        if (!hex_escape(r, &ignored)) return false;
      } else if (!simple_escape(e, &simple)) {
        return error(r, INVALID_ESCAPE);
      }
    } else {
      return error(r, CONTROL_CHARACTER);
    }
  }
}

// ---- numbers ----

// `data[start..end)` as a double (correctly rounded).
static double parse_double(const reader_t *r, size_t start, size_t end) {
  char *text = dup_n(r->data + start, end - start);
  double v = strtod(text, NULL);
  free(text);
  return v;
}

// serde_json's `parse_integer` (with `float_roundtrip`): the sign was eaten.
static bool number(reader_t *r, bool positive, num_t *out) {
  size_t start = r->index;
  int first = next_char(r);
  if (first < 0) return error(r, EOF_VALUE);
  if (first == '0') {
    if (is_digit(peek_or_null(r))) return peek_error(r, INVALID_NUMBER);
  } else if (first >= '1' && first <= '9') {
    while (is_digit(peek_or_null(r))) r->index++;
  } else {
    return error(r, INVALID_NUMBER);
  }
  size_t integer_end = r->index;
  int following = peek_or_null(r);
  if (following == '.') {
    r->index++;
    size_t digits_start = r->index;
    while (is_digit(peek_or_null(r))) r->index++;
    if (r->index == digits_start) {
      if (peek(r) < 0) return peek_error(r, EOF_VALUE);
      return peek_error(r, INVALID_NUMBER);
    }
    following = peek_or_null(r);
  }
  double value;
  if (following == 'e' || following == 'E') {
    size_t mantissa_end = r->index;
    r->index++;
    bool exp_positive = true;
    int sign = peek_or_null(r);
    if (sign == '+' || sign == '-') {
      exp_positive = sign == '+';
      r->index++;
    }
    int digit = next_char(r);
    if (digit < 0) return error(r, EOF_VALUE);
    if (!is_digit(digit)) return error(r, INVALID_NUMBER);
    int64_t exponent = digit - '0';
    while (is_digit(peek_or_null(r))) {
      digit = r->data[r->index];
      r->index++;
      exponent = exponent * 10 + (digit - '0');
      if (exponent > INT32_MAX) {
        bool zero = true;
        for (size_t k = start; k < mantissa_end; k++) {
          if (r->data[k] != '0' && r->data[k] != '.') zero = false;
        }
        if (!zero && exp_positive) return error(r, NUMBER_OUT_OF_RANGE);
        while (is_digit(peek_or_null(r))) r->index++;
        out->kind = NUM_F64;
        out->f = positive ? 0.0 : -0.0;
        return true;
      }
    }
    value = parse_double(r, start, r->index);
  } else if (r->index == integer_end) {
    // Digits only: an integer when it fits u64.
    uint64_t significand = 0;
    bool fits = true;
    for (size_t k = start; k < integer_end; k++) {
      uint64_t d = (uint64_t)(r->data[k] - '0');
      if (significand > (UINT64_MAX - d) / 10) {
        fits = false;
        break;
      }
      significand = significand * 10 + d;
    }
    if (fits) {
      if (positive) {
        out->kind = NUM_U64;
        out->u = significand;
        return true;
      }
      if (significand >= 1 && significand <= (UINT64_C(1) << 63)) {
        out->kind = NUM_I64;
        out->i = significand == (UINT64_C(1) << 63) ? INT64_MIN : -(int64_t)significand;
        return true;
      }
      out->kind = NUM_F64;
      out->f = -(double)significand;
      return true;
    }
    value = parse_double(r, start, integer_end);
  } else {
    value = parse_double(r, start, r->index);
  }
  if (isinf(value)) return error(r, NUMBER_OUT_OF_RANGE);
  out->kind = NUM_F64;
  out->f = positive ? value : -value;
  return true;
}

static bool skip_number(reader_t *r) {
  int first = next_char(r);
  if (first == '0') {
    if (is_digit(peek_or_null(r))) return peek_error(r, INVALID_NUMBER);
  } else if (first >= '1' && first <= '9') {
    while (is_digit(peek_or_null(r))) r->index++;
  } else {
    return error(r, INVALID_NUMBER);
  }
  if (peek_or_null(r) == '.') {
    r->index++;
    size_t start = r->index;
    while (is_digit(peek_or_null(r))) r->index++;
    if (r->index == start) return peek_error(r, INVALID_NUMBER);
  }
  int e = peek_or_null(r);
  if (e == 'e' || e == 'E') {
    r->index++;
    int sign = peek_or_null(r);
    if (sign == '+' || sign == '-') r->index++;
    int d = next_char(r);
    if (!is_digit(d)) return error(r, INVALID_NUMBER);
    while (is_digit(peek_or_null(r))) r->index++;
  }
  return true;
}

// ---- values ----

// serde_json's `peek_invalid_type`: read the value that is there and fail
// with "invalid type: <what it is>, expected <expected>", placed after it.
static bool invalid_type(reader_t *r, const char *expected) {
  int c = peek_or_null(r);
  buf_t what = {0};
  if (c == 'n') {
    r->index++;
    if (!ident(r, "ull")) return false;
    buf_adds(&what, "null");
  } else if (c == 't') {
    r->index++;
    if (!ident(r, "rue")) return false;
    buf_adds(&what, "boolean `true`");
  } else if (c == 'f') {
    r->index++;
    if (!ident(r, "alse")) return false;
    buf_adds(&what, "boolean `false`");
  } else if (c == '-' || is_digit(c)) {
    bool positive = c != '-';
    if (!positive) r->index++;
    num_t n;
    if (!number(r, positive, &n)) return false;
    if (n.kind == NUM_U64) {
      buf_printf(&what, "integer `%llu`", (unsigned long long)n.u);
    } else if (n.kind == NUM_I64) {
      buf_printf(&what, "integer `%lld`", (long long)n.i);
    } else {
      char f[64];
      gavel_format_float(n.f, f, sizeof f);
      buf_printf(&what, "floating point `%s`", f);
    }
  } else if (c == '"') {
    r->index++;
    buf_t text = {0};
    if (!string(r, &text)) {
      free(text.ptr);
      return false;
    }
    buf_adds(&what, "string ");
    debug_str_into(&what, (const uint8_t *)text.ptr, text.len);
    free(text.ptr);
  } else if (c == '[') {
    buf_adds(&what, "sequence");
  } else if (c == '{') {
    buf_adds(&what, "map");
  } else {
    return peek_error(r, EXPECTED_VALUE);
  }
  char *message = gavel_format("invalid type: %s, expected %s", what.ptr, expected);
  free(what.ptr);
  error_unplaced(r, message);
  fix(r);
  return false;
}

// After a value (or an opening bracket) inside `stack`: close what closes,
// then get ready for the next value. Sets *done when all is closed.
static bool skip_open(reader_t *r, buf_t *stack, bool accept_comma, bool *done) {
  *done = false;
  uint8_t frame = (uint8_t)stack->ptr[stack->len - 1];
  for (;;) {
    int c = whitespace(r);
    if (c == ',' && accept_comma) {
      r->index++;
      break;
    }
    if ((c == ']' && frame == '[') || (c == '}' && frame == '{')) {
      r->index++;
      stack->len--;
      if (stack->len == 0) {
        *done = true;
        return true;
      }
      frame = (uint8_t)stack->ptr[stack->len - 1];
      accept_comma = true;
      continue;
    }
    if (c < 0) return peek_error(r, frame == '[' ? EOF_LIST : EOF_OBJECT);
    if (accept_comma) {
      return peek_error(r, frame == '[' ? EXPECTED_LIST_COMMA_OR_END : EXPECTED_OBJECT_COMMA_OR_END);
    }
    break;
  }
  if (frame == '{') {
    int c = whitespace(r);
    if (c == '"') {
      r->index++;
    } else if (c < 0) {
      return peek_error(r, EOF_OBJECT);
    } else {
      return peek_error(r, KEY_MUST_BE_A_STRING);
    }
    if (!skip_string(r)) return false;
    c = whitespace(r);
    if (c == ':') {
      r->index++;
    } else if (c < 0) {
      return peek_error(r, EOF_OBJECT);
    } else {
      return peek_error(r, EXPECTED_COLON);
    }
  }
  return true;
}

// serde_json's `ignore_value`, without recursion.
static bool skip_value_inner(reader_t *r, buf_t *stack) {
  for (;;) {
    int c = whitespace(r);
    if (c < 0) return peek_error(r, EOF_VALUE);
    bool done;
    if (c == 'n') {
      r->index++;
      if (!ident(r, "ull")) return false;
    } else if (c == 't') {
      r->index++;
      if (!ident(r, "rue")) return false;
    } else if (c == 'f') {
      r->index++;
      if (!ident(r, "alse")) return false;
    } else if (c == '-') {
      r->index++;
      if (!skip_number(r)) return false;
    } else if (is_digit(c)) {
      if (!skip_number(r)) return false;
    } else if (c == '"') {
      r->index++;
      if (!skip_string(r)) return false;
    } else if (c == '[' || c == '{') {
      r->index++;
      buf_addc(stack, (char)c);
      if (!skip_open(r, stack, false, &done)) return false;
      if (done) return true;
      continue;
    } else {
      return peek_error(r, EXPECTED_VALUE);
    }
    if (stack->len == 0) return true;
    if (!skip_open(r, stack, true, &done)) return false;
    if (done) return true;
  }
}

static bool skip_value(reader_t *r) {
  buf_t stack = {0};
  bool ok = skip_value_inner(r, &stack);
  free(stack.ptr);
  return ok;
}

// serde_json's `end_seq` / `end_map`: the message of the error they would
// report, or NULL. They consume the closing bracket when it is there.
static const char *end_seq(reader_t *r, size_t *at) {
  int c = whitespace(r);
  const char *message = NULL;
  if (c == ']') {
    r->index++;
    return NULL;
  }
  if (c == ',') {
    r->index++;
    message = whitespace(r) == ']' ? TRAILING_COMMA : TRAILING_CHARACTERS;
  } else if (c < 0) {
    message = EOF_LIST;
  } else {
    message = TRAILING_CHARACTERS;
  }
  *at = r->index < r->len ? r->index + 1 : r->len;
  return message;
}

static const char *end_map(reader_t *r, size_t *at) {
  int c = whitespace(r);
  const char *message;
  if (c == '}') {
    r->index++;
    return NULL;
  }
  if (c == ',') {
    message = TRAILING_COMMA;
  } else if (c < 0) {
    message = EOF_OBJECT;
  } else {
    message = TRAILING_CHARACTERS;
  }
  *at = r->index < r->len ? r->index + 1 : r->len;
  return message;
}

// 1 when there is a next element, 0 at the end, -1 on error.
static int has_next_element(reader_t *r, bool first) {
  int c = whitespace(r);
  if (c < 0) return peek_error(r, EOF_LIST), -1;
  if (c == ']') return 0;
  if (first) return 1;
  if (c == ',') {
    r->index++;
    c = whitespace(r);
    if (c == ']') return peek_error(r, TRAILING_COMMA), -1;
    if (c < 0) return peek_error(r, EOF_VALUE), -1;
    return 1;
  }
  return peek_error(r, EXPECTED_LIST_COMMA_OR_END), -1;
}

static int has_next_key(reader_t *r, bool first) {
  int c = whitespace(r);
  if (c < 0) return peek_error(r, EOF_OBJECT), -1;
  if (c == '}') return 0;
  if (first) {
    if (c == '"') return 1;
    return peek_error(r, KEY_MUST_BE_A_STRING), -1;
  }
  if (c == ',') {
    r->index++;
    c = whitespace(r);
    if (c == '"') return 1;
    if (c == '}') return peek_error(r, TRAILING_COMMA), -1;
    if (c < 0) return peek_error(r, EOF_VALUE), -1;
    return peek_error(r, KEY_MUST_BE_A_STRING), -1;
  }
  return peek_error(r, EXPECTED_OBJECT_COMMA_OR_END), -1;
}

// Between a key and its value. serde_path_to_error puts an error here on
// the map, not on the key.
static bool colon(reader_t *r) {
  int c = whitespace(r);
  if (c == ':') {
    r->index++;
    return true;
  }
  if (c < 0) return peek_error(r, EOF_OBJECT);
  return peek_error(r, EXPECTED_COLON);
}

// ---- typed values ----

static bool string_value(reader_t *r, const seg_t *path, size_t path_len, gavel_string_t *out) {
  int c = whitespace(r);
  if (c < 0) {
    peek_error(r, EOF_VALUE);
    return tag(r, path, path_len);
  }
  if (c == '"') {
    r->index++;
    buf_t text = {0};
    if (!string(r, &text)) {
      free(text.ptr);
      return tag(r, path, path_len);
    }
    out->len = text.len;
    out->ptr = buf_take(&text);
    return true;
  }
  invalid_type(r, "a string");
  return tag(r, path, path_len);
}

static bool list_value(reader_t *r, const seg_t *path, size_t path_len, gavel_string_list_t *out) {
  out->items = NULL;
  out->len = 0;
  int c = whitespace(r);
  if (c < 0) {
    peek_error(r, EOF_VALUE);
    return tag(r, path, path_len);
  }
  if (c != '[') {
    invalid_type(r, "a sequence");
    return tag(r, path, path_len);
  }
  r->index++;
  size_t cap = 0;
  for (;;) {
    int more = has_next_element(r, out->len == 0);
    if (more < 0) break;
    if (more == 0) {
      size_t ignored;
      end_seq(r, &ignored);  // consumes the `]` has_next_element saw
      return true;
    }
    if (out->len == cap) {
      cap = cap ? cap * 2 : 4;
      if (cap > SIZE_MAX / sizeof *out->items) abort();
      out->items = xrealloc(out->items, cap * sizeof *out->items);
    }
    seg_t item_path[MAX_PATH];
    size_t item_len = 0;
    for (size_t i = 0; i < path_len && i < MAX_PATH; i++) item_path[item_len++] = path[i];
    if (item_len < MAX_PATH) {
      item_path[item_len].kind = SEG_SEQ;
      item_path[item_len].index = out->len;
      item_path[item_len].key = NULL;
      item_path[item_len].key_len = 0;
      item_len++;
    }
    if (!string_value(r, item_path, item_len, &out->items[out->len])) break;
    out->len++;
  }
  gavel_string_list_free(out);
  return tag(r, path, path_len);
}

static bool number_value(reader_t *r, const seg_t *path, size_t path_len, double *out) {
  int c = whitespace(r);
  if (c < 0) {
    peek_error(r, EOF_VALUE);
    return tag(r, path, path_len);
  }
  num_t n;
  if (c == '-' || is_digit(c)) {
    if (c == '-') r->index++;
    if (!number(r, c != '-', &n)) {
      fix(r);
      return tag(r, path, path_len);
    }
  } else {
    invalid_type(r, "f64");
    return tag(r, path, path_len);
  }
  *out = n.kind == NUM_U64 ? (double)n.u : n.kind == NUM_I64 ? (double)n.i : n.f;
  return true;
}

static bool field_value(reader_t *r, gavel_field_kind_t kind, const seg_t *path, size_t path_len,
                        gavel_field_value_t *value) {
  switch (kind) {
    case GAVEL_FIELD_LIST:
      value->is_some = true;
      return list_value(r, path, path_len, &value->list);
    case GAVEL_FIELD_OPTIONAL_LIST:
      if (whitespace(r) == 'n') {
        r->index++;
        if (!ident(r, "ull")) return tag(r, path, path_len);
        value->is_some = false;
        return true;
      }
      value->is_some = true;
      return list_value(r, path, path_len, &value->list);
    case GAVEL_FIELD_NUMBER:
      value->is_some = true;
      return number_value(r, path, path_len, &value->number);
  }
  return false;
}

// ---- the struct ----

typedef struct visit {
  const char *name;
  const gavel_field_t *fields;
  size_t count;
  gavel_field_value_t *values;
  char *unknown;  // the first unknown key, owned
  size_t unknown_len;
} visit_t;

static void set_defaults(visit_t *v) {
  for (size_t i = 0; i < v->count; i++) {
    v->values[i].is_some = v->fields[i].kind == GAVEL_FIELD_LIST;
    v->values[i].list.items = NULL;
    v->values[i].list.len = 0;
    v->values[i].number = v->fields[i].kind == GAVEL_FIELD_NUMBER ? v->fields[i].default_number : 0;
  }
}

static bool visit_map(reader_t *r, visit_t *v) {
  bool seen[GAVEL_MAX_FIELDS] = {false};
  bool first = true;
  const seg_t unknown_key = {SEG_UNKNOWN, 0, NULL, 0};
  for (;;) {
    int more = has_next_key(r, first);
    if (more < 0) return tag(r, &unknown_key, 1);
    if (more == 0) return true;
    first = false;
    r->index++;
    buf_t key = {0};
    if (!string(r, &key)) {
      free(key.ptr);
      return tag(r, &unknown_key, 1);
    }
    seg_t path = {SEG_MAP, 0, key.ptr, key.len};
    size_t field = v->count;
    for (size_t i = 0; i < v->count; i++) {
      const char *name = v->fields[i].name;
      if (strlen(name) == key.len && memcmp(name, key.ptr, key.len) == 0) {
        field = i;
        break;
      }
    }
    bool ok;
    if (field == v->count) {
      if (!v->unknown) {
        v->unknown = key.ptr;
        v->unknown_len = key.len;
        key.ptr = NULL;
        path.key = v->unknown;
      }
      ok = colon(r) && (skip_value(r) || tag(r, &path, 1));
    } else if (seen[field]) {
      error_unplaced(r, gavel_format("duplicate field `%s`", v->fields[field].name));
      ok = false;
    } else {
      seen[field] = true;
      ok = colon(r) && field_value(r, v->fields[field].kind, &path, 1, &v->values[field]);
    }
    free(key.ptr);
    if (!ok) return false;
  }
}

static bool visit_seq(reader_t *r, visit_t *v) {
  bool first = true;
  for (size_t i = 0; i < v->count; i++) {
    int present = has_next_element(r, first);
    if (present < 0) return tag(r, NULL, 0);
    gavel_field_kind_t kind = v->fields[i].kind;
    if (present) {
      first = false;
      seg_t path = {SEG_SEQ, i, NULL, 0};
      if (!field_value(r, kind, &path, 1, &v->values[i])) return false;
    } else if (kind == GAVEL_FIELD_OPTIONAL_LIST) {
      return error_unplaced(r, gavel_format("invalid length %zu, expected struct %s with %zu elements",
                                            i, v->name, v->count));
    }
  }
  return true;
}

static bool parse_struct(reader_t *r, visit_t *v) {
  int c = whitespace(r);
  if (c < 0) {
    peek_error(r, EOF_VALUE);
    return tag(r, NULL, 0);
  }
  bool is_map;
  if (c == '{') {
    is_map = true;
  } else if (c == '[') {
    is_map = false;
  } else {
    char *expected = gavel_format("struct %s", v->name);
    invalid_type(r, expected);
    free(expected);
    return tag(r, NULL, 0);
  }
  r->index++;
  bool ok = is_map ? visit_map(r, v) : visit_seq(r, v);
  size_t at = 0;
  const char *end_error = is_map ? end_map(r, &at) : end_seq(r, &at);
  if (!ok) {
    // serde_json ends the map or list before it reports.
    fix(r);
    return tag(r, NULL, 0);
  }
  if (end_error) {
    fail_at(r, dup_n(end_error, strlen(end_error)), true, at);
    return tag(r, NULL, 0);
  }
  return true;
}

static void describe(const reader_t *r, size_t index, buf_t *out, const char *message) {
  if (index > r->len) index = r->len;
  size_t start_of_line = 0;
  size_t line = 1;
  for (size_t i = 0; i < index; i++) {
    if (r->data[i] == '\n') {
      line++;
      start_of_line = i + 1;
    }
  }
  buf_printf(out, "%s at line %zu column %zu", message, line, index - start_of_line);
}

static void path_text(const jerr_t *e, buf_t *out) {
  const char *separator = "";
  for (size_t i = 0; i < e->path_len && i < MAX_PATH; i++) {
    const seg_t *s = &e->path[i];
    if (s->kind == SEG_SEQ) {
      buf_printf(out, "[%zu]", s->index);
    } else {
      buf_adds(out, separator);
      if (s->kind == SEG_MAP) {
        buf_add(out, s->key, s->key_len);
      } else {
        buf_addc(out, '?');
      }
    }
    separator = ".";
  }
}

void gavel_config_values_free(gavel_field_value_t *values, size_t count) {
  for (size_t i = 0; i < count; i++) gavel_string_list_free(&values[i].list);
}

bool gavel_config_parse(const uint8_t *text, size_t len, const char *struct_name,
                        const gavel_field_t *fields, size_t count, gavel_field_value_t *values,
                        char **error_out) {
  *error_out = NULL;
  if (count > GAVEL_MAX_FIELDS) {
    *error_out = gavel_format("config: a struct of more than %d fields is not supported",
                              GAVEL_MAX_FIELDS);
    return false;
  }
  reader_t r = {text, len, 0, false, {0}};
  visit_t v = {struct_name, fields, count, values, NULL, 0};
  set_defaults(&v);
  buf_t message = {0};
  if (!parse_struct(&r, &v)) {
    buf_t path = {0};
    path_text(&r.err, &path);
    if (path.len == 0 || strcmp(path.ptr, ".") == 0) {
      buf_adds(&message, "config: ");
    } else {
      buf_adds(&message, "config key `");
      buf_add(&message, path.ptr, path.len);
      buf_adds(&message, "`: ");
    }
    free(path.ptr);
    describe(&r, r.err.has_index ? r.err.index : r.index, &message, r.err.message);
    jerr_free(&r.err);
  } else if (whitespace(&r) >= 0) {
    buf_adds(&message, "config: ");
    describe(&r, r.index + 1, &message, TRAILING_CHARACTERS);
  } else if (v.unknown) {
    buf_adds(&message, "unknown config key `");
    buf_add(&message, v.unknown, v.unknown_len);
    buf_addc(&message, '`');
  } else {
    return true;
  }
  free(v.unknown);
  gavel_config_values_free(values, count);
  *error_out = buf_take(&message);
  return false;
}
