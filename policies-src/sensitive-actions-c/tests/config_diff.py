"""Differential test of the C config parser: random configs (mutations of
seeds) through the C policy's config path (native_harness.c) and the Python
twin's (itself checked word for word against the Rust policy); every error
text must be the same.

    config_diff.py SEED COUNT HARNESS
"""
import os, random, struct, subprocess, sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../sensitive-actions-py/src"))
from sensitive_actions import SensitiveActions, ConfigError

def py(text):
    try:
        SensitiveActions(text)
        return "OK"
    except ConfigError as e:
        return e.message

seeds = [
    '{}', '[]', '{"forbidden":["a","b*"],"require_approval":["x"],"allowed":null}',
    '{"forbidden": ["delete_*", "wire_out"], "require_approval": ["refund", "send_*"]}',
    '[["a"],["b"],["c"]]', '[["a"]]', '[["a"],["b"]]', '{"allowed":[]}', '{"forbidden":[1, 2.5e3, -0, -1.5e-7, 1e400, true, null]}',
    '{"forbidden":"x"}', '{"forbidden":["\\u00e9", "\\ud83d\\ude00", "a\\u200bb", "\\n"]}', '{"zz":{"a":[1,{"b":null}]},"forbidden":[]}',
    '{"forbidden":["a"],"forbidden":["b"]}', '{"forbidden":[123456789012345678901234567890]}', '{"forbidden":[-9223372036854775808, -9223372036854775809, 18446744073709551615, 18446744073709551616]}',
    '{"forbidden":[0.1, 1e15, 1e16, 1.5e-5, 1e-6, 123.456, 5e-324, 1.7976931348623157e308]}', '{"forbidden":["a" ,"b" ]} ', '{"x":1e99999999999}', '{"forbidden":[0e99999999999]}',
    '{"forbidden":["é\x7f\x01"]}', '"str"', '12', 'null', 'true', '{"FORBIDDEN":1}', '{"allowed":{"a":1}}',
    '{"forbidden":["' + "a"*129 + '"]}', '{"require_approval":["ok","bad name"]}', '{"forbidden":["x*y","*a","**",""]}',
]
alphabet = list('{}[]",:.-+eE0123456789 \n\tabnulltruefalse\\u/*') + ['forbidden', 'allowed', 'require_approval', '"a"', 'null', '\\u00', '\\ud800', '\\udc00', 'é', '\u200b', '\x00', '\x1f']
random.seed(int(sys.argv[1]) if len(sys.argv) > 1 else 1)
cases = list(seeds)
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 20000):
    s = random.choice(seeds)
    for _ in range(random.randint(1, 4)):
        op = random.random()
        i = random.randint(0, len(s))
        if op < 0.4:
            s = s[:i] + random.choice(alphabet) + s[i:]
        elif op < 0.7:
            s = s[:i] + s[i+random.randint(1,3):]
        else:
            s = s[:i]
    cases.append(s)
data = b"".join(struct.pack("<I", len(c.encode())) + c.encode() for c in cases)
out = subprocess.run([sys.argv[3]], input=data, capture_output=True)
if out.returncode != 0:
    print("harness failed", out.stderr.decode()[-3000:]); sys.exit(1)
res = []
b = out.stdout; i = 0
while i < len(b):
    (n,) = struct.unpack("<I", b[i:i+4]); res.append(b[i+4:i+4+n].decode("utf-8", "replace")); i += 4 + n
bad = 0
for c, r in zip(cases, res):
    p = py(c)
    if p != r:
        bad += 1
        if bad <= 10: print(repr(c), "\n  py:", repr(p), "\n  c: ", repr(r))
print(len(cases), "cases", len(res), "results", bad, "mismatches")
sys.exit(1 if bad or len(res) != len(cases) else 0)
