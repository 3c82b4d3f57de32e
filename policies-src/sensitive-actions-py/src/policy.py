"""The component's entry module: binds `sensitive_actions` to the WIT world
`gavel:policy/policy-world`. componentize-py looks up the exported
interface's functions on `Policy` and its resource on `Evaluator`, both in
the module named after the interface (`policy`)."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import policy as wit

from sensitive_actions import DESCRIPTION, NAME, VERSION, ConfigError, SensitiveActions

_APPROVE = wit.Verdict_Approve()


class Policy(exports.Policy):
    def metadata(self) -> wit.PolicyMetadata:
        return wit.PolicyMetadata(NAME, VERSION, DESCRIPTION)


class Evaluator(wit.Evaluator):
    def __init__(self, policy: SensitiveActions):
        self._policy = policy

    @classmethod
    def create(cls, config: str) -> "Evaluator":
        try:
            return cls(SensitiveActions(config))
        except ConfigError as e:
            raise Err(e.message)

    def evaluate(self, request: wit.Request) -> wit.Verdict:
        verdict, code, message = self._policy.evaluate(request.action)
        if verdict == "approve":
            return _APPROVE
        reason = wit.Reason(code, message)
        if verdict == "deny":
            return wit.Verdict_Deny(reason)
        return wit.Verdict_Escalate(reason)
