// `sensitive-actions`, in C: the same rules and messages as the Rust
// policy in policies-src/sensitive-actions.
//
// - an action matching `forbidden` -> deny `forbidden-action`;
// - else, if `allowed` is set and the action matches none of it -> deny
//   `action-not-allowed`;
// - else an action matching `require_approval` -> escalate
//   `approval-required`;
// - else approve.
//
// Entries are action names; a trailing `*` is a prefix wildcard. Entries
// match ASCII-case-insensitively (`delete_account` stops `Delete_Account`),
// as the Rust SDK's `ActionPattern` does. Config errors are the Rust
// policy's, word for word (sdk/c/gavel_policy.c).

#include <stdlib.h>

#include "gavel_policy.h"

#define NAME "sensitive-actions"
#define VERSION "1.0.0"
#define DESCRIPTION                                                               \
  "Denies forbidden actions, escalates actions that need approval, optionally " \
  "allows only a list."

// The Rust `Config` struct, in its declaration order.
enum { FORBIDDEN, REQUIRE_APPROVAL, ALLOWED, FIELD_COUNT };
static const gavel_field_t FIELDS[FIELD_COUNT] = {
    [FORBIDDEN] = {"forbidden", GAVEL_FIELD_LIST, 0},
    [REQUIRE_APPROVAL] = {"require_approval", GAVEL_FIELD_LIST, 0},
    [ALLOWED] = {"allowed", GAVEL_FIELD_OPTIONAL_LIST, 0},
};

struct exports_gavel_policy_policy_evaluator_t {
  gavel_action_patterns_t forbidden;
  gavel_action_patterns_t require_approval;
  bool has_allowed;
  gavel_action_patterns_t allowed;
};

typedef exports_gavel_policy_policy_evaluator_t evaluator_t;

void exports_gavel_policy_policy_metadata(exports_gavel_policy_policy_policy_metadata_t *ret) {
  policy_world_string_dup(&ret->name, NAME);
  policy_world_string_dup(&ret->version, VERSION);
  policy_world_string_dup(&ret->description, DESCRIPTION);
}

void exports_gavel_policy_policy_evaluator_destructor(evaluator_t *self) {
  gavel_action_patterns_free(&self->forbidden);
  gavel_action_patterns_free(&self->require_approval);
  gavel_action_patterns_free(&self->allowed);
  free(self);
}

// Parse and check the config; NULL and `*error` set when it is refused.
static evaluator_t *evaluator_new(const uint8_t *text, size_t len, char **error) {
  gavel_field_value_t values[FIELD_COUNT];
  if (!gavel_config_parse(text, len, "Config", FIELDS, FIELD_COUNT, values, error)) return NULL;
  evaluator_t *self = calloc(1, sizeof *self);
  if (!self) abort();
  bool ok = gavel_action_patterns_parse("forbidden", &values[FORBIDDEN].list, &self->forbidden,
                                        error) &&
            gavel_action_patterns_parse("require_approval", &values[REQUIRE_APPROVAL].list,
                                        &self->require_approval, error);
  if (ok && values[ALLOWED].is_some) {
    self->has_allowed = true;
    ok = gavel_action_patterns_parse("allowed", &values[ALLOWED].list, &self->allowed, error);
  }
  gavel_config_values_free(values, FIELD_COUNT);
  if (!ok) {
    exports_gavel_policy_policy_evaluator_destructor(self);
    return NULL;
  }
  return self;
}

bool exports_gavel_policy_policy_static_evaluator_create(
    policy_world_string_t *config, exports_gavel_policy_policy_own_evaluator_t *ret,
    policy_world_string_t *err) {
  char *error = NULL;
  evaluator_t *self = evaluator_new(config->ptr, config->len, &error);
  policy_world_string_free(config);
  if (!self) {
    gavel_string_to_wit(error, err);
    return false;
  }
  *ret = exports_gavel_policy_policy_evaluator_new(self);
  return true;
}

// `forbidden` and `require_approval`; every action when `allowed` is set,
// since an action off that list is denied.
bool exports_gavel_policy_policy_method_evaluator_interest(evaluator_t *self,
                                                           policy_world_list_string_t *ret) {
  if (self->has_allowed) return false;
  const gavel_action_patterns_t *judged[] = {&self->forbidden, &self->require_approval};
  return gavel_action_patterns_interest(judged, 2, ret);
}

void exports_gavel_policy_policy_method_evaluator_evaluate(evaluator_t *self,
                                                           gavel_request_t *request,
                                                           gavel_outcome_t *ret) {
  const uint8_t *action = request->action.ptr;
  size_t len = request->action.len;
  // At most 128 characters (the host's name contract); clamped for printf.
  int n = len > 4096 ? 4096 : (int)len;
  if (gavel_action_patterns_match(&self->forbidden, action, len)) {
    gavel_deny(ret, "forbidden-action", "action `%.*s` is forbidden", n, (const char *)action);
  } else if (self->has_allowed && !gavel_action_patterns_match(&self->allowed, action, len)) {
    gavel_deny(ret, "action-not-allowed", "action `%.*s` is not on the allowed list", n,
               (const char *)action);
  } else if (gavel_action_patterns_match(&self->require_approval, action, len)) {
    gavel_escalate(ret, "approval-required", "action `%.*s` requires human approval", n,
                   (const char *)action);
  } else {
    gavel_approve(ret);
  }
  exports_gavel_policy_policy_request_free(request);
}
