# transaction-limit (policies-src/transaction-limit): money-moving actions
# need an amount in the configured currency within the agent's limit (or the
# `default` limit); above `approval_above` they are escalated.
package gavel.policies.transaction_limit

import rego.v1

name := "transaction-limit"

priority := 90

actions := {"execute_transaction", "issue_refund", "make_payment"}

currency := "USD"

limits := {
	"financial-advisor": {"max": 1000},
	"customer-support": {"max": 500, "approval_above": 100},
	"default": {"max": 0},
}

limit := object.get(limits, input.agent_id, object.get(limits, "default", null))

deny(code) := {"verdict": "deny", "code": code}

# The checks in the policy's order; the first that fails decides.
check := deny("amount-required") if {
	not is_number(input.amount)
} else := deny("currency-mismatch") if {
	is_string(input.currency)
	# The policy compares ignoring ASCII case; Rego's lower() folds Unicode
	# too, which differs only for non-ASCII letters that lower to u, s or d
	# (there are none).
	lower(input.currency) != lower(currency)
} else := deny("no-limit-configured") if {
	limit == null
} else := deny("over-limit") if {
	input.amount > limit.max
} else := {"verdict": "escalate", "code": "approval-threshold"} if {
	input.amount > limit.approval_above
}

default judgement := {"verdict": "approve"}

judgement := check if input.action in actions
