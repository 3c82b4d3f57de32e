# business-hours (policies-src/business-hours): some actions only inside the
# working week's hours, in the configured time zone.
#
# The local time comes from the harness (input.local, computed with the same
# compiled-in tz database as the policy): regorus's time builtins are not
# used, so that both sides agree on the zone rules.
package gavel.policies.business_hours

import rego.v1

name := "business-hours"

priority := 80

actions := {"execute_transaction", "send_contract", "modify_production"}

# The zone input.local is in (the harness's; informative here).
timezone := "America/New_York"

days := {"mon", "tue", "wed", "thu", "fri"}

start := "09:00"

# Exclusive.
end := "17:00"

# Minutes since midnight of "HH:MM". regorus's to_number refuses a leading
# zero ("09"), so each two-digit field is read as "1HH" - 100.
minutes(hhmm) := (to_number(concat("", ["1", parts[0]])) - 100) * 60 + (to_number(concat("", ["1", parts[1]])) - 100) if {
	parts := split(hhmm, ":")
}

inside if {
	input.local.weekday in days
	input.local.minutes >= minutes(start)
	input.local.minutes < minutes(end)
}

default judgement := {"verdict": "approve"}

judgement := {"verdict": "deny", "code": "outside-business-hours"} if {
	input.action in actions
	not inside
}
