// A native build of the policy's config path, for config_diff.py: reads
// length-prefixed configs on stdin and writes, for each, "OK" or the
// config error, length-prefixed. The WIT glue is stubbed out.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gavel_policy.h"
exports_gavel_policy_policy_own_evaluator_t exports_gavel_policy_policy_evaluator_new(exports_gavel_policy_policy_evaluator_t *rep) { (void)rep; exports_gavel_policy_policy_own_evaluator_t h = {0}; return h; }
void exports_gavel_policy_policy_request_free(exports_gavel_policy_policy_request_t *p) { (void)p; }
void policy_world_string_dup(policy_world_string_t *ret, const char*s) { ret->len = strlen(s); ret->ptr = (uint8_t*)strdup(s); }
void policy_world_string_free(policy_world_string_t *ret) { (void)ret; }
#include "../src/sensitive_actions.c"
int main(void) {
  uint32_t n;
  while (fread(&n, 4, 1, stdin) == 1) {
    uint8_t *buf = malloc(n + 1);
    if (fread(buf, 1, n, stdin) != n) return 2;
    char *error = NULL;
    evaluator_t *e = evaluator_new(buf, n, &error);
    const char *out = e ? "OK" : error;
    uint32_t len = (uint32_t)strlen(out);
    fwrite(&len, 4, 1, stdout);
    fwrite(out, 1, len, stdout);
    if (e) exports_gavel_policy_policy_evaluator_destructor(e);
    free(error);
    free(buf);
  }
  return 0;
}
