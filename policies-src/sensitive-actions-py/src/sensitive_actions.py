"""`sensitive-actions`, in Python: the same rules and messages as the Rust
policy in `policies-src/sensitive-actions`.

- an action matching `forbidden` -> deny `forbidden-action`;
- else, if `allowed` is set and the action matches none of it -> deny
  `action-not-allowed`;
- else an action matching `require_approval` -> escalate `approval-required`;
- else approve.

Entries are action names; a trailing `*` is a prefix wildcard. Entries
match ASCII-case-insensitively (`delete_account` stops `Delete_Account`),
as the Rust SDK's `ActionPattern` does.
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

# Names as the host accepts them (`sdk/src/identifier.rs`).
MAX_IDENTIFIER_CHARS = 128
_IDENTIFIER_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.:/"
)
_NAME_RULE = "1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`"
# ASCII case folding only: `str.lower` would fold far more than ASCII.
_ASCII_LOWER = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
)


def identifier_key(name):
    """`name` in ASCII lower case, as `gavel_sdk::identifier_key`."""
    return name.translate(_ASCII_LOWER)


def identifier_problem(name):
    """Why `name` is not a name the host accepts, or None; the same text as
    `gavel_sdk::identifier_problem`."""
    if not name:
        return "is empty; a name is " + _NAME_RULE
    for index, char in enumerate(name):
        if char not in _IDENTIFIER_CHARS:
            return "character %d (U+%04X) is not allowed; a name is %s" % (
                index,
                ord(char),
                _NAME_RULE,
            )
    if len(name) > MAX_IDENTIFIER_CHARS:
        return "is %d characters long; a name is %s" % (len(name), _NAME_RULE)
    return None


class Patterns:
    """A list of action patterns (`sdk/src/action_pattern.rs`): exact names,
    `prefix*`, or `*` for every action, matched ASCII-case-insensitively."""

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
            problem = identifier_problem(body) if body else None
            if problem is not None:
                raise key_error(
                    "%s[%d]" % (key, index),
                    "an action pattern is an action name, optionally ending "
                    "in `*`: " + problem,
                )
            if not body:
                self.any = True
            elif wildcard:
                prefixes.append(identifier_key(body))
            else:
                self.exact.add(identifier_key(body))
        self.prefixes = tuple(prefixes)

    def matches(self, action):
        if self.any:
            return True
        key = identifier_key(action)
        return key in self.exact or (
            bool(self.prefixes) and key.startswith(self.prefixes)
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
