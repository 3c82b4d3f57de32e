# Gavel's evaluation order and verdict combination, over the four shipped
# policies in data.gavel.policies (sensitive_actions.rego,
# transaction_limit.rego, business_hours.rego, pii_egress.rego).
#
# Each policy package declares its `name` and `priority` (as in
# policies.toml) and a `judgement`: {"verdict": "deny" | "escalate",
# "code": ...}, or {"verdict": "approve"} by default. As in Gavel (README,
# "How a decision is made"): policies in descending priority, ties by name;
# the first deny decides; otherwise the first escalation; otherwise approve.
#
# Input, built by the harness (bench/src/rego.rs) per request: agent_id,
# action, amount (absent when none), currency (absent when none), local
# ({"minutes", "weekday"}: America/New_York, computed by the harness) and
# pii_kinds (the kinds the pii-egress policy's own scanner finds in params).
package gavel

import rego.v1

# The judgements in evaluation order: descending priority, ties by name
# (sensitive-actions 100, transaction-limit 90, business-hours 80,
# pii-egress 70). Written out rather than sorted by each package's
# `priority` per decision: with static references regorus evaluates only
# the four judgements, and sorting at every decision would cost as much as
# the four policies together. `order` below is that sort, which a test
# checks against this list.
judgements := [
	data.gavel.policies.sensitive_actions.judgement,
	data.gavel.policies.transaction_limit.judgement,
	data.gavel.policies.business_hours.judgement,
	data.gavel.policies.pii_egress.judgement,
]

# The policies' names sorted by [-priority, name] (not used per decision).
order := [entry[1] | some entry in sort([[0 - p.priority, p.name] | some p in data.gavel.policies])]

denies := [j | some j in judgements; j.verdict == "deny"]

escalations := [j | some j in judgements; j.verdict == "escalate"]

outcome := denies[0] if {
	count(denies) > 0
} else := escalations[0] if {
	count(escalations) > 0
} else := {"verdict": "approve"}
