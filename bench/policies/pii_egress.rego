# pii-egress (policies-src/pii-egress): outbound actions must not carry
# personal data.
#
# Rego cannot run the policy's scanner (Luhn and IBAN checks, SSN area
# rules, phone shapes, secret formats, email domains, ...), and
# re-implementing it with regex would not be the same scanner: the harness
# runs the policy's own scanner (with allow_email_domains =
# ["example-corp.com"]) and passes the kinds it finds as input.pii_kinds.
package gavel.policies.pii_egress

import rego.v1

name := "pii-egress"

priority := 70

actions := {"send_external_message", "send_email", "http_post", "post_to_social_media"}

# Every kind (the policy's default).
detect := {"email", "phone", "ssn", "credit_card", "iban", "ip_address", "secret"}

default judgement := {"verdict": "approve"}

judgement := {"verdict": "deny", "code": "pii-detected"} if {
	input.action in actions
	some kind in input.pii_kinds
	kind in detect
}
