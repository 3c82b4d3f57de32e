# sensitive-actions (policies-src/sensitive-actions): forbidden actions are
# denied; actions that require approval are escalated.
package gavel.policies.sensitive_actions

import rego.v1

name := "sensitive-actions"

priority := 100

forbidden := ["delete_account", "access_payment_details", "change_pricing_tiers", "modify_own_instructions"]

require_approval := ["delete_*", "contract_modification", "external_vendor_communication"]

# Gavel's action patterns: an exact name, or a prefix ending in `*` (an
# action equal to a pattern `p*` also starts with `p`).
matches_any(patterns) if input.action in patterns

matches_any(patterns) if {
	some pattern in patterns
	endswith(pattern, "*")
	startswith(input.action, trim_suffix(pattern, "*"))
}

default judgement := {"verdict": "approve"}

judgement := {"verdict": "deny", "code": "forbidden-action"} if {
	matches_any(forbidden)
} else := {"verdict": "escalate", "code": "approval-required"} if {
	matches_any(require_approval)
}
