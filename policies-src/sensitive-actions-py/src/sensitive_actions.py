"""`sensitive-actions`, in Python: the same rules and messages as the Rust
policy in `policies-src/sensitive-actions`.

- an action matching `forbidden` -> deny `forbidden-action`;
- else, if `allowed` is set and the action matches none of it -> deny
  `action-not-allowed`;
- else an action matching `require_approval` -> escalate `approval-required`;
- else approve.

Entries are action names; a trailing `*` is a prefix wildcard.
"""

from gavel_config import LIST, OPTIONAL_LIST, ConfigError, key_error, parse_config

NAME = "sensitive-actions"
VERSION = "1.0.0"
DESCRIPTION = (
    "Denies forbidden actions, escalates actions that need approval, "
    "optionally allows only a list."
)

# In the order the Rust `Config` struct declares them.
FIELDS = (
    ("forbidden", LIST),
    ("require_approval", LIST),
    ("allowed", OPTIONAL_LIST),
)

APPROVE = ("approve", None, None)


class Patterns:
    """A list of action patterns (`sdk/src/action_pattern.rs`): exact names,
    `prefix*`, or `*` for every action."""

    __slots__ = ("any", "exact", "prefixes")

    def __init__(self, key, texts):
        self.any = False
        self.exact = set()
        prefixes = []
        for index, text in enumerate(texts):
            if not text:
                raise key_error(
                    "%s[%d]" % (key, index), "an action pattern must not be empty"
                )
            wildcard = text.endswith("*")
            body = text[:-1] if wildcard else text
            if "*" in body:
                raise key_error(
                    "%s[%d]" % (key, index),
                    "action pattern `%s`: `*` is allowed only at the end" % text,
                )
            if not body:
                self.any = True
            elif wildcard:
                prefixes.append(body)
            else:
                self.exact.add(body)
        self.prefixes = tuple(prefixes)

    def matches(self, action):
        return (
            self.any
            or action in self.exact
            or (bool(self.prefixes) and action.startswith(self.prefixes))
        )


class SensitiveActions:
    __slots__ = ("forbidden", "require_approval", "allowed")

    def __init__(self, config_text):
        """Parse and check the config; raises `ConfigError`."""
        config = parse_config(config_text, "Config", FIELDS)
        self.forbidden = Patterns("forbidden", config["forbidden"])
        self.require_approval = Patterns("require_approval", config["require_approval"])
        allowed = config["allowed"]
        self.allowed = None if allowed is None else Patterns("allowed", allowed)

    def evaluate(self, action):
        """(verdict, code, message) with verdict approve, deny or escalate."""
        if self.forbidden.matches(action):
            return ("deny", "forbidden-action", "action `%s` is forbidden" % action)
        if self.allowed is not None and not self.allowed.matches(action):
            return (
                "deny",
                "action-not-allowed",
                "action `%s` is not on the allowed list" % action,
            )
        if self.require_approval.matches(action):
            return (
                "escalate",
                "approval-required",
                "action `%s` requires human approval" % action,
            )
        return APPROVE


__all__ = ["ConfigError", "SensitiveActions", "NAME", "VERSION", "DESCRIPTION"]
