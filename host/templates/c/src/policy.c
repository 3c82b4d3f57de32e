// `{{name}}`: denies actions that delete data, escalates large amounts.
//
// - an action whose name starts with `delete_` (ASCII case folded) -> deny
//   `destructive-action`;
// - else an amount above `review_above` (default 500) -> escalate
//   `large-amount`;
// - else approve.
//
// Built on Gavel's C SDK (gavel_policy.h), over the bindings wit-bindgen
// generates for the `gavel:policy@0.3.0` world (policy_world.h).

#include <math.h>
#include <stdlib.h>

#include "gavel_policy.h"

// The config, from `[policy.config]`. Unknown keys are refused, naming
// them, with the same words as the Rust SDK's `parse_config`.
enum { REVIEW_ABOVE, FIELD_COUNT };
static const gavel_field_t FIELDS[FIELD_COUNT] = {
    [REVIEW_ABOVE] = {"review_above", GAVEL_FIELD_NUMBER, 500.0},
};

// One configured evaluator (the WIT resource `evaluator`).
struct exports_gavel_policy_policy_evaluator_t {
  double review_above;
};

void exports_gavel_policy_policy_metadata(exports_gavel_policy_policy_policy_metadata_t *ret) {
  policy_world_string_dup(&ret->name, "{{name}}");
  policy_world_string_dup(&ret->version, "0.1.0");
  policy_world_string_dup(&ret->description,
                          "Denies actions that delete data and escalates large amounts.");
}

bool exports_gavel_policy_policy_static_evaluator_create(
    policy_world_string_t *config, exports_gavel_policy_policy_own_evaluator_t *ret,
    policy_world_string_t *err) {
  gavel_field_value_t values[FIELD_COUNT];
  char *error = NULL;
  bool ok = gavel_config_parse(config->ptr, config->len, "Config", FIELDS, FIELD_COUNT, values,
                               &error);
  policy_world_string_free(config);
  if (!ok) {
    gavel_string_to_wit(error, err);
    return false;
  }
  double review_above = values[REVIEW_ABOVE].number;
  gavel_config_values_free(values, FIELD_COUNT);
  if (!isfinite(review_above) || review_above < 0) {
    gavel_string_to_wit(gavel_key_error("review_above", "must be a number >= 0"), err);
    return false;
  }
  exports_gavel_policy_policy_evaluator_t *self = malloc(sizeof *self);
  if (!self) abort();
  self->review_above = review_above;
  *ret = exports_gavel_policy_policy_evaluator_new(self);
  return true;
}

void exports_gavel_policy_policy_evaluator_destructor(exports_gavel_policy_policy_evaluator_t *self) {
  free(self);
}

// Every action: the amount rule applies to all of them.
bool exports_gavel_policy_policy_method_evaluator_interest(
    exports_gavel_policy_policy_evaluator_t *self, policy_world_list_string_t *ret) {
  (void)self;
  (void)ret;
  return false;
}

void exports_gavel_policy_policy_method_evaluator_evaluate(
    exports_gavel_policy_policy_evaluator_t *self, gavel_request_t *request,
    gavel_outcome_t *ret) {
  const uint8_t *action = request->action.ptr;
  size_t len = request->action.len;
  // Action names are at most 128 characters (the host's name contract).
  int n = len > 128 ? 128 : (int)len;
  if (gavel_starts_with_ascii_ci(action, len, "delete_")) {
    gavel_deny(ret, "destructive-action", "action `%.*s` deletes data", n, (const char *)action);
  } else if (request->amount.is_some && request->amount.val > self->review_above) {
    gavel_escalate(ret, "large-amount", "amount %g is above %g", request->amount.val,
                   self->review_above);
  } else {
    gavel_approve(ret);
  }
  // The request is this function's to free.
  exports_gavel_policy_policy_request_free(request);
}
