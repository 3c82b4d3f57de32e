"""`{{name}}`: denies actions that delete data, escalates large amounts.

- an action whose name starts with `delete_` -> deny `destructive-action`;
- else an amount above `review_above` (default 500) -> escalate
  `large-amount`;
- else approve.

componentize-py looks up the exported interface's functions on `Policy`
and its resource on `Evaluator`, in this module (named after the
interface, `policy`).
"""

import json
import math

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports import policy as wit

NAME = "{{name}}"
VERSION = "0.1.0"
DESCRIPTION = "Denies actions that delete data and escalates large amounts."

CONFIG_KEYS = ("review_above",)

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class ConfigError(Exception):
    pass


def parse_config(text):
    """The config, from `[policy.config]` (JSON text). Unknown keys are
    refused, naming them."""
    try:
        config = json.loads(text) if text.strip() else {}
    except ValueError as e:
        raise ConfigError("config: %s" % e)
    if not isinstance(config, dict):
        raise ConfigError("config: expected a table of keys")
    for key in config:
        if key not in CONFIG_KEYS:
            raise ConfigError(
                "config: unknown key `%s`, expected one of %s"
                % (key, ", ".join("`%s`" % k for k in CONFIG_KEYS))
            )
    review_above = config.get("review_above", 500)
    if (
        isinstance(review_above, bool)
        or not isinstance(review_above, (int, float))
        or not math.isfinite(review_above)
        or review_above < 0
    ):
        raise ConfigError("config key `review_above`: must be a number >= 0")
    return float(review_above)


def _outcome(verdict):
    return wit.Outcome(verdict, [], [])


_APPROVE = _outcome(wit.Verdict_Approve())


class Policy(exports.Policy):
    def metadata(self) -> wit.PolicyMetadata:
        return wit.PolicyMetadata(NAME, VERSION, DESCRIPTION)


class Evaluator(wit.Evaluator):
    def __init__(self, review_above):
        self._review_above = review_above

    @classmethod
    def create(cls, config: str) -> "Evaluator":
        try:
            return cls(parse_config(config))
        except ConfigError as e:
            raise Err(str(e))

    def interest(self):
        # Every action: the amount rule applies to all of them.
        return None

    def evaluate(self, request: wit.Request) -> wit.Outcome:
        action = request.action
        # Action names match with ASCII case folded.
        if action.translate(_ASCII_LOWER).startswith("delete_"):
            reason = wit.Reason("destructive-action", "action `%s` deletes data" % action)
            return _outcome(wit.Verdict_Deny(reason))
        if request.amount is not None and request.amount > self._review_above:
            reason = wit.Reason(
                "large-amount",
                "amount %g is above %g" % (request.amount, self._review_above),
            )
            return _outcome(wit.Verdict_Escalate(reason))
        return _APPROVE
