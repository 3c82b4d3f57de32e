"""Unit tests for the policy logic, run with the host's Python:

    python3 -m unittest discover -s policies-src/sensitive-actions-py/tests

The expected messages are what the Rust SDK answers for the same configs.
The component itself runs the Rust policy's case files through `gavel test`.
"""

import os
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from gavel_config import format_float  # noqa: E402
from sensitive_actions import ConfigError, SensitiveActions  # noqa: E402

CONFIG_ERRORS = [
    ('{"forbiden":["a"]}', "unknown config key `forbiden`"),
    ('{"forbidden":"x"}',
     'config key `forbidden`: invalid type: string "x", expected a sequence at line 1 column 16'),
    ('{"allowed":[1]}',
     "config key `allowed[0]`: invalid type: integer `1`, expected a string at line 1 column 13"),
    ('{"forbidden":[""]}', "config key `forbidden[0]`: an action pattern must not be empty"),
    ('{"forbidden":["a*b"]}',
     "config key `forbidden[0]`: action pattern `a*b`: `*` is allowed only at the end"),
    ('{"require_approval":["x","**"]}',
     "config key `require_approval[1]`: action pattern `**`: `*` is allowed only at the end"),
    ('{"forbidden":{"a":1}}',
     "config key `forbidden`: invalid type: map, expected a sequence at line 1 column 13"),
    ('{"allowed":[1e20]}',
     "config key `allowed[0]`: invalid type: floating point `1e+20`, expected a string at line 1 column 16"),
    ('{"allowed":[-0]}',
     "config key `allowed[0]`: invalid type: floating point `-0.0`, expected a string at line 1 column 14"),
    ('{"forbidden":["delete_account "]}',
     "config key `forbidden[0]`: an action pattern is an action name, optionally ending in `*`: "
     "character 14 (U+0020) is not allowed; a name is 1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`"),
    ('{"require_approval":["ok","delete\\u200b*"]}',
     "config key `require_approval[1]`: an action pattern is an action name, optionally ending in `*`: "
     "character 6 (U+200B) is not allowed; a name is 1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`"),
    ('{"allowed":["%s"]}' % ("a" * 129),
     "config key `allowed[0]`: an action pattern is an action name, optionally ending in `*`: "
     "is 129 characters long; a name is 1-128 ASCII letters, digits, `_`, `-`, `.`, `:` or `/`"),
    ('{"forbidden":["a"],"forbidden":[]}', "config: duplicate field `forbidden` at line 1 column 30"),
    ("[]", "config: invalid length 2, expected struct Config with 3 elements at line 1 column 2"),
    ('{"a" 1}', "config: expected `:` at line 1 column 6"),
    ('{"forbidden":[],}', "config key `?`: trailing comma at line 1 column 17"),
    ('{"forbidden":[]} x', "config: trailing characters at line 1 column 18"),
    ("", "config: EOF while parsing a value at line 1 column 0"),
    ('{"zz":1,"forbidden":[""]}', "unknown config key `zz`"),
    ('{"forbidden":"\\u0301\\u007f\\n"}',
     'config key `forbidden`: invalid type: string "\\u{301}\\u{7f}\\n", expected a sequence at line 1 column 29'),
]


def verdict(config, action):
    return SensitiveActions(config).evaluate(action)


class ConfigTests(unittest.TestCase):
    def test_errors_match_the_rust_sdk(self):
        for text, message in CONFIG_ERRORS:
            with self.subTest(config=text):
                with self.assertRaises(ConfigError) as caught:
                    SensitiveActions(text)
                self.assertEqual(caught.exception.message, message)

    def test_defaults(self):
        self.assertEqual(verdict("{}", "anything")[0], "approve")
        self.assertEqual(verdict('{"allowed":null}', "anything")[0], "approve")
        self.assertEqual(verdict('[["a"],[],null]', "a")[0], "deny")

    def test_floats_print_like_rust(self):
        cases = {1.5: "1.5", 1.0: "1.0", 1e16: "1e+16", 1e15: "1000000000000000.0",
                 1e-7: "1e-7", 1.2e-5: "0.000012", -0.0: "-0.0", 1.5e300: "1.5e+300"}
        for value, text in cases.items():
            self.assertEqual(format_float(value), text)


class EvaluateTests(unittest.TestCase):
    SHIPPED = ('{"forbidden":["delete_account"],'
               '"require_approval":["delete_*","contract_modification"]}')

    def test_forbidden_wins(self):
        self.assertEqual(verdict(self.SHIPPED, "delete_account"),
                         ("deny", "forbidden-action", "action `delete_account` is forbidden"))

    def test_prefix_wildcard(self):
        self.assertEqual(verdict(self.SHIPPED, "delete_"),
                         ("escalate", "approval-required", "action `delete_` requires human approval"))
        self.assertEqual(verdict(self.SHIPPED, "undelete_x")[0], "approve")

    def test_allow_list(self):
        config = '{"forbidden":["wire_*"],"require_approval":["refund"],"allowed":["read_*","refund","wire_out"]}'
        self.assertEqual(verdict(config, "write"),
                         ("deny", "action-not-allowed", "action `write` is not on the allowed list"))
        self.assertEqual(verdict(config, "wire_out")[1], "forbidden-action")
        self.assertEqual(verdict(config, "refund")[0], "escalate")
        self.assertEqual(verdict(config, "read_x")[0], "approve")
        self.assertEqual(verdict('{"allowed":[]}', "x")[1], "action-not-allowed")

    def test_names_match_modulo_ascii_case_only(self):
        # (action, verdict); the messages repeat the action as sent.
        cases = [
            ("delete_account", "deny"),
            ("Delete_Account", "deny"),
            ("DELETE_ACCOUNT", "deny"),
            ("Delete_Ticket", "escalate"),
            ("CONTRACT_modification", "escalate"),
            ("\uff44elete_account", "approve"),  # full-width: never folded
            ("d\u0435lete_account", "approve"),  # Cyrillic: never folded
        ]
        for action, expected in cases:
            with self.subTest(action=action):
                self.assertEqual(verdict(self.SHIPPED, action)[0], expected)
        self.assertEqual(verdict(self.SHIPPED, "Delete_Account"),
                         ("deny", "forbidden-action", "action `Delete_Account` is forbidden"))
        config = '{"allowed":["READ_*","Refund"]}'
        self.assertEqual(verdict(config, "read_x")[0], "approve")
        self.assertEqual(verdict(config, "refund")[0], "approve")

    def test_star(self):
        self.assertEqual(verdict('{"forbidden":["*"]}', "")[0], "deny")


if __name__ == "__main__":
    unittest.main()
