// gavel_policy.h: helpers for Gavel policies written in C, on the
// bindings `wit-bindgen c` generates for `gavel:policy@0.3.0`
// (policy_world.h).
//
// - verdicts: fill an outcome with approve / deny / escalate (code and a
//   printf-style message, copied);
// - names: ASCII-case-insensitive comparison, as the host compares action
//   names;
// - action patterns: `name`, `prefix*` or `*`, with the Rust SDK's
//   validation and error texts (`ActionPattern::parse_list`);
// - config: a JSON config parser for a struct of fields (lists of strings,
//   optional lists, numbers) that refuses unknown keys and answers every
//   bad config with the Rust SDK's exact words (serde_json's messages,
//   positions and key paths).
//
// Memory: every string this library returns is malloc'd and owned by the
// caller, except the strings it puts into an outcome or a WIT string,
// which the generated bindings free after the host has read them. A config
// is untrusted input: the parser checks every bound and never reads past
// the text it is given.
#ifndef GAVEL_POLICY_H
#define GAVEL_POLICY_H

#include "policy_world.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef exports_gavel_policy_policy_request_t gavel_request_t;
typedef exports_gavel_policy_policy_outcome_t gavel_outcome_t;

// ---- verdicts ---------------------------------------------------------------

// Approve, with no findings and no charges.
void gavel_approve(gavel_outcome_t *out);

// Deny with `code` (lowercase ASCII letters, digits and `-`) and a message
// formatted like printf. Both are copied.
void gavel_deny(gavel_outcome_t *out, const char *code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

// Escalate (ask a human), as gavel_deny.
void gavel_escalate(gavel_outcome_t *out, const char *code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

// ---- strings ----------------------------------------------------------------

// A malloc'd, NUL-terminated string with its length (in bytes, without the
// NUL). Config strings may hold NUL bytes (from `\u0000`): use `len`.
typedef struct gavel_string {
  char *ptr;
  size_t len;
} gavel_string_t;

typedef struct gavel_string_list {
  gavel_string_t *items;
  size_t len;
} gavel_string_list_t;

void gavel_string_list_free(gavel_string_list_t *list);

// printf into a new malloc'd string. Aborts (a trap the host turns into a
// refusal) when memory runs out.
char *gavel_format(const char *format, ...) __attribute__((format(printf, 1, 2)));

// A config error about `key`: "config key `<key>`: <problem>", as the Rust
// SDK's `ConfigError::key` writes it.
char *gavel_key_error(const char *key, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

// Hand a malloc'd message to a WIT string (e.g. the `err` of
// `evaluator.create`); the bindings free it.
void gavel_string_to_wit(char *message, policy_world_string_t *out);

// Whether `text[0..len)` starts with `prefix`, ASCII case folded.
bool gavel_starts_with_ascii_ci(const uint8_t *text, size_t len, const char *prefix);

// Whether two names are the same name, ASCII case folded.
bool gavel_same_identifier(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

// Why `name` is not an action name or agent id the host accepts (1-128
// ASCII letters, digits, `_`, `-`, `.`, `:` or `/`), as a malloc'd
// message; NULL when it is one. The same text as the Rust SDK's
// `identifier_problem`.
char *gavel_identifier_problem(const uint8_t *name, size_t len);

// ---- action patterns --------------------------------------------------------

typedef enum gavel_pattern_kind {
  GAVEL_PATTERN_ANY,     // `*`: every action
  GAVEL_PATTERN_PREFIX,  // `prefix*`
  GAVEL_PATTERN_EXACT,   // an action name
} gavel_pattern_kind_t;

typedef struct gavel_action_pattern {
  gavel_pattern_kind_t kind;
  // The pattern as written (with its `*`), NUL-terminated.
  char *text;
  size_t text_len;
} gavel_action_pattern_t;

typedef struct gavel_action_patterns {
  gavel_action_pattern_t *items;
  size_t len;
} gavel_action_patterns_t;

// Parse the config list `key` (e.g. "forbidden"). On error returns false
// and sets `*error` to a malloc'd message naming `key[i]`, word for word
// the Rust SDK's `ActionPattern::parse_list`.
bool gavel_action_patterns_parse(const char *key, const gavel_string_list_t *texts,
                                 gavel_action_patterns_t *out, char **error);

// Whether any pattern matches `action` (ASCII case folded).
bool gavel_action_patterns_match(const gavel_action_patterns_t *patterns, const uint8_t *action,
                                 size_t len);

void gavel_action_patterns_free(gavel_action_patterns_t *patterns);

// The interest of a policy that judges exactly the actions matching the
// `count` lists: false (none: every action) when a pattern is `*`; else
// true, with `*ret` the patterns as written, in order (for
// `evaluator.interest`).
bool gavel_action_patterns_interest(const gavel_action_patterns_t *const *lists, size_t count,
                                    policy_world_list_string_t *ret);

// ---- config -----------------------------------------------------------------

typedef enum gavel_field_kind {
  // `#[serde(default)] Vec<String>`: a list of strings; missing means [].
  GAVEL_FIELD_LIST,
  // `Option<Vec<String>>`: missing or null means none.
  GAVEL_FIELD_OPTIONAL_LIST,
  // `f64` with a default: any JSON number; missing means the default.
  GAVEL_FIELD_NUMBER,
} gavel_field_kind_t;

typedef struct gavel_field {
  const char *name;
  gavel_field_kind_t kind;
  double default_number;  // GAVEL_FIELD_NUMBER only
} gavel_field_t;

typedef struct gavel_field_value {
  bool is_some;              // lists: present (always true for GAVEL_FIELD_LIST)
  gavel_string_list_t list;  // the lists
  double number;             // GAVEL_FIELD_NUMBER
} gavel_field_value_t;

// The most fields a config struct may have.
#define GAVEL_MAX_FIELDS 32

// Parse `text` (the config JSON) into `values[i]` for `fields[i]`, as the
// Rust SDK's `parse_config` parses it into a struct named `struct_name`
// with those fields, in that declaration order. On error returns false,
// leaves nothing allocated in `values`, and sets `*error` to a malloc'd
// message, word for word the Rust SDK's (an unknown key is refused,
// naming it).
bool gavel_config_parse(const uint8_t *text, size_t len, const char *struct_name,
                        const gavel_field_t *fields, size_t count, gavel_field_value_t *values,
                        char **error);

void gavel_config_values_free(gavel_field_value_t *values, size_t count);

// `value` as serde_json writes a float in its messages (e.g. `1.5`,
// `1e+20`), into `buf`.
void gavel_format_float(double value, char *buf, size_t size);

// `text` as Rust's `format!("{:?}", text)` writes a string (quoted, with
// Rust's escapes), as a malloc'd string.
char *gavel_debug_str(const uint8_t *text, size_t len);

#ifdef __cplusplus
}
#endif

#endif
