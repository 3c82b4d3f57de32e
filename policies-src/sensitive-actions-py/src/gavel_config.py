"""Config parsing with the Rust SDK's exact behaviour and messages.

The Rust SDK (`sdk/src/config.rs`) parses a policy's config with serde_json,
serde_path_to_error and serde_ignored. This module reproduces what that
stack answers for a struct whose fields are lists of strings, byte for byte:
the same accepted inputs, the same error texts, the same `line`/`column`
positions (in bytes, as serde_json counts them) and the same key paths.

    parse_config(text, "Config", [("forbidden", LIST), ("allowed", OPTIONAL_LIST)])

returns a dict of field values or raises `ConfigError`.
"""

from rust_debug import debug_str

# Field kinds. LIST is `#[serde(default)] Vec<String>` (missing means []),
# OPTIONAL_LIST is `Option<Vec<String>>` (missing or null means None).
LIST = "list"
OPTIONAL_LIST = "optional-list"

_U64_MAX = (1 << 64) - 1
_I32_MAX = (1 << 31) - 1
_WS = b" \n\t\r"
_DIGITS = b"0123456789"
_HEX = b"0123456789abcdefABCDEF"
_SIMPLE_ESCAPES = {
    ord('"'): b'"',
    ord("\\"): b"\\",
    ord("/"): b"/",
    ord("b"): b"\x08",
    ord("f"): b"\x0c",
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
}

# serde_json's syntax errors.
EOF_LIST = "EOF while parsing a list"
EOF_OBJECT = "EOF while parsing an object"
EOF_STRING = "EOF while parsing a string"
EOF_VALUE = "EOF while parsing a value"
EXPECTED_COLON = "expected `:`"
EXPECTED_LIST_COMMA_OR_END = "expected `,` or `]`"
EXPECTED_OBJECT_COMMA_OR_END = "expected `,` or `}`"
EXPECTED_IDENT = "expected ident"
EXPECTED_VALUE = "expected value"
INVALID_ESCAPE = "invalid escape"
INVALID_NUMBER = "invalid number"
NUMBER_OUT_OF_RANGE = "number out of range"
CONTROL_CHARACTER = "control character (\\u0000-\\u001F) found while parsing a string"
KEY_MUST_BE_A_STRING = "key must be a string"
LONE_LEADING_SURROGATE = "lone leading surrogate in hex escape"
TRAILING_COMMA = "trailing comma"
TRAILING_CHARACTERS = "trailing characters"
UNEXPECTED_END_OF_HEX_ESCAPE = "unexpected end of hex escape"


class ConfigError(Exception):
    """Why a config was refused. The message names the offending key."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def key_error(key, problem):
    """`ConfigError::key`: an error about `key`."""
    return ConfigError("config key `%s`: %s" % (key, problem))


class _JsonError(Exception):
    """A serde_json error: a message, a byte index (None until serde_json
    would fix its position) and the key path serde_path_to_error records."""

    def __init__(self, message, index=None):
        super().__init__(message)
        self.message = message
        self.index = index
        self.path = None


# Path segments, as serde_path_to_error shows them.
_UNKNOWN_KEY = ("?",)


def _seq(index):
    return ("seq", index)


def _map(key):
    return ("map", key)


def _path_text(path):
    if not path:
        return "."
    out = []
    separator = ""
    for segment in path:
        if segment[0] != "seq":
            out.append(separator)
        if segment[0] == "seq":
            out.append("[%d]" % segment[1])
        elif segment[0] == "map":
            out.append(segment[1])
        else:
            out.append("?")
        separator = "."
    return "".join(out)


def _tag(error, path):
    """serde_path_to_error keeps the innermost path an error passed through."""
    if error.path is None:
        error.path = path
    return error


def format_float(value):
    """A float as serde_json writes it in messages (the zmij crate)."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "inf" if value > 0 else "-inf"
    sign = "-" if str(value).startswith("-") else ""
    if value == 0:
        return sign + "0.0"
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = whole + fraction
    exponent += len(whole) - 1
    stripped = digits.lstrip("0")
    exponent -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    if -5 <= exponent <= 15:
        if len(digits) - 1 <= exponent:
            body = digits + "0" * (exponent + 1 - len(digits)) + ".0"
        elif exponent >= 0:
            body = digits[: exponent + 1] + "." + digits[exponent + 1 :]
        else:
            body = "0." + "0" * (-exponent - 1) + digits
    else:
        body = digits[0]
        if len(digits) > 1:
            body += "." + digits[1:]
        body += "e" + ("+" if exponent >= 0 else "-") + str(abs(exponent))
    return sign + body


class _Reader:
    """serde_json's `Deserializer<StrRead>`, reduced to what a struct of
    string lists needs."""

    def __init__(self, data):
        self.data = data
        self.index = 0

    # --- positions and errors -------------------------------------------

    def position(self, index):
        data = self.data
        start_of_line = data.rfind(b"\n", 0, index) + 1
        return 1 + data.count(b"\n", 0, start_of_line), index - start_of_line

    def error(self, message):
        return _JsonError(message, self.index)

    def peek_error(self, message):
        return _JsonError(message, min(len(self.data), self.index + 1))

    def fix(self, error):
        if error.index is None:
            error.index = self.index
        return error

    def describe(self, error):
        line, column = self.position(error.index)
        return "%s at line %d column %d" % (error.message, line, column)

    # --- bytes ------------------------------------------------------------

    def peek(self):
        if self.index < len(self.data):
            return self.data[self.index]
        return None

    def peek_or_null(self):
        if self.index < len(self.data):
            return self.data[self.index]
        return 0

    def next_char(self):
        if self.index < len(self.data):
            self.index += 1
            return self.data[self.index - 1]
        return None

    def whitespace(self):
        data = self.data
        index = self.index
        end = len(data)
        while index < end and data[index] in _WS:
            index += 1
        self.index = index
        return data[index] if index < end else None

    def ident(self, rest):
        for expected in rest:
            got = self.next_char()
            if got is None:
                raise self.error(EOF_VALUE)
            if got != expected:
                raise self.error(EXPECTED_IDENT)

    # --- strings ------------------------------------------------------------

    def _skip_to_escape(self):
        data = self.data
        index = self.index
        end = len(data)
        while index < end:
            byte = data[index]
            if byte == 0x22 or byte == 0x5C or byte < 0x20:
                break
            index += 1
        self.index = index

    def _hex_escape(self):
        data = self.data
        if len(data) - self.index >= 4:
            digits = data[self.index : self.index + 4]
            self.index += 4
            for byte in digits:
                if byte not in _HEX:
                    raise self.error(INVALID_ESCAPE)
            return int(digits, 16)
        self.index = len(data)
        raise self.error(EOF_STRING)

    def _next_or_eof(self):
        byte = self.next_char()
        if byte is None:
            raise self.error(EOF_STRING)
        return byte

    def _peek_or_eof(self):
        byte = self.peek()
        if byte is None:
            raise self.error(EOF_STRING)
        return byte

    def string(self):
        """The rest of a string whose opening quote was eaten."""
        data = self.data
        scratch = bytearray()
        start = self.index
        while True:
            self._skip_to_escape()
            if self.index == len(data):
                raise self.error(EOF_STRING)
            byte = data[self.index]
            if byte == 0x22:
                scratch += data[start : self.index]
                self.index += 1
                return scratch.decode("utf-8")
            if byte == 0x5C:
                scratch += data[start : self.index]
                self.index += 1
                self._escape(scratch)
                start = self.index
            else:
                self.index += 1
                raise self.error(CONTROL_CHARACTER)

    def _escape(self, scratch):
        byte = self._next_or_eof()
        simple = _SIMPLE_ESCAPES.get(byte)
        if simple is not None:
            scratch += simple
            return
        if byte != 0x75:  # u
            raise self.error(INVALID_ESCAPE)
        first = self._hex_escape()
        if 0xDC00 <= first <= 0xDFFF:
            raise self.error(LONE_LEADING_SURROGATE)
        if not 0xD800 <= first <= 0xDBFF:
            scratch += chr(first).encode("utf-8")
            return
        for expected in (0x5C, 0x75):  # \u
            if self._peek_or_eof() != expected:
                self.index += 1
                raise self.error(UNEXPECTED_END_OF_HEX_ESCAPE)
            self.index += 1
        second = self._hex_escape()
        if not 0xDC00 <= second <= 0xDFFF:
            raise self.error(LONE_LEADING_SURROGATE)
        code = (((first - 0xD800) << 10) | (second - 0xDC00)) + 0x10000
        scratch += chr(code).encode("utf-8")

    def skip_string(self):
        data = self.data
        while True:
            self._skip_to_escape()
            if self.index == len(data):
                raise self.error(EOF_STRING)
            byte = data[self.index]
            if byte == 0x22:
                self.index += 1
                return
            if byte == 0x5C:
                self.index += 1
                byte = self._next_or_eof()
                if byte == 0x75:
                    self._hex_escape()
                elif byte not in _SIMPLE_ESCAPES:
                    raise self.error(INVALID_ESCAPE)
            else:
                raise self.error(CONTROL_CHARACTER)

    # --- numbers ------------------------------------------------------------

    def number(self, positive):
        """serde_json's `parse_integer` (with `float_roundtrip`): an int for
        u64 / i64 values, a float otherwise."""
        data = self.data
        start = self.index
        first = self.next_char()
        if first is None:
            raise self.error(EOF_VALUE)
        if first == 0x30:
            if self.peek_or_null() in _DIGITS:
                raise self.peek_error(INVALID_NUMBER)
        elif 0x31 <= first <= 0x39:
            while self.peek_or_null() in _DIGITS:
                self.index += 1
        else:
            raise self.error(INVALID_NUMBER)
        integer = data[start : self.index]
        following = self.peek_or_null()
        if following == 0x2E:  # .
            self.index += 1
            digits_start = self.index
            while self.peek_or_null() in _DIGITS:
                self.index += 1
            if self.index == digits_start:
                if self.peek() is None:
                    raise self.peek_error(EOF_VALUE)
                raise self.peek_error(INVALID_NUMBER)
            following = self.peek_or_null()
        if following in b"eE":
            mantissa = data[start : self.index]
            self.index += 1
            exp_positive = True
            if self.peek_or_null() in b"+-":
                exp_positive = self.data[self.index] == 0x2B
                self.index += 1
            digit = self.next_char()
            if digit is None:
                raise self.error(EOF_VALUE)
            if digit not in _DIGITS:
                raise self.error(INVALID_NUMBER)
            exponent = digit - 0x30
            while self.peek_or_null() in _DIGITS:
                digit = self.data[self.index]
                self.index += 1
                exponent = exponent * 10 + digit - 0x30
                if exponent > _I32_MAX:
                    zero = not mantissa.strip(b"0.")
                    if not zero and exp_positive:
                        raise self.error(NUMBER_OUT_OF_RANGE)
                    while self.peek_or_null() in _DIGITS:
                        self.index += 1
                    return 0.0 if positive else -0.0
            value = float(data[start : self.index])
        elif self.index - start == len(integer):
            significand = int(integer)
            if significand <= _U64_MAX:
                if positive:
                    return significand
                if 1 <= significand <= 1 << 63:
                    return -significand
                return -float(significand)
            value = float(integer)
        else:
            value = float(data[start : self.index])
        if value in (float("inf"), float("-inf")):
            raise self.error(NUMBER_OUT_OF_RANGE)
        return value if positive else -value

    # --- values ---------------------------------------------------------------

    def invalid_type(self, expected):
        """serde_json's `peek_invalid_type`: reads the value that is there
        and says what it is instead of `expected`."""
        byte = self.peek_or_null()
        if byte == 0x6E:  # n
            self.index += 1
            self.ident(b"ull")
            unexpected = "null"
        elif byte == 0x74:  # t
            self.index += 1
            self.ident(b"rue")
            unexpected = "boolean `true`"
        elif byte == 0x66:  # f
            self.index += 1
            self.ident(b"alse")
            unexpected = "boolean `false`"
        elif byte == 0x2D or byte in _DIGITS:
            positive = byte != 0x2D
            if not positive:
                self.index += 1
            value = self.number(positive)
            if isinstance(value, int):
                unexpected = "integer `%d`" % value
            else:
                unexpected = "floating point `%s`" % format_float(value)
        elif byte == 0x22:
            self.index += 1
            unexpected = "string " + debug_str(self.string())
        elif byte == 0x5B:
            unexpected = "sequence"
        elif byte == 0x7B:
            unexpected = "map"
        else:
            raise self.peek_error(EXPECTED_VALUE)
        return self.fix(
            _JsonError("invalid type: %s, expected %s" % (unexpected, expected))
        )

    def skip_value(self):
        """serde_json's `ignore_value`."""
        stack = []
        while True:
            byte = self.whitespace()
            if byte is None:
                raise self.peek_error(EOF_VALUE)
            if byte == 0x6E:
                self.index += 1
                self.ident(b"ull")
            elif byte == 0x74:
                self.index += 1
                self.ident(b"rue")
            elif byte == 0x66:
                self.index += 1
                self.ident(b"alse")
            elif byte == 0x2D:
                self.index += 1
                self._skip_number()
            elif byte in _DIGITS:
                self._skip_number()
            elif byte == 0x22:
                self.index += 1
                self.skip_string()
            elif byte == 0x5B or byte == 0x7B:
                self.index += 1
                stack.append(byte)
                if self._skip_open(stack, accept_comma=False):
                    return
                continue
            else:
                raise self.peek_error(EXPECTED_VALUE)
            if not stack:
                return
            if self._skip_open(stack, accept_comma=True):
                return

    def _skip_open(self, stack, accept_comma):
        """After a value (or an opening bracket) inside `stack`: close what
        closes, then get ready for the next value. True when all is closed."""
        frame = stack[-1]
        while True:
            byte = self.whitespace()
            if byte == 0x2C and accept_comma:
                self.index += 1
                break
            if (byte == 0x5D and frame == 0x5B) or (byte == 0x7D and frame == 0x7B):
                self.index += 1
                stack.pop()
                if not stack:
                    return True
                frame = stack[-1]
                accept_comma = True
                continue
            if byte is None:
                raise self.peek_error(EOF_LIST if frame == 0x5B else EOF_OBJECT)
            if accept_comma:
                raise self.peek_error(
                    EXPECTED_LIST_COMMA_OR_END
                    if frame == 0x5B
                    else EXPECTED_OBJECT_COMMA_OR_END
                )
            break
        if frame == 0x7B:
            byte = self.whitespace()
            if byte == 0x22:
                self.index += 1
            elif byte is None:
                raise self.peek_error(EOF_OBJECT)
            else:
                raise self.peek_error(KEY_MUST_BE_A_STRING)
            self.skip_string()
            byte = self.whitespace()
            if byte == 0x3A:
                self.index += 1
            elif byte is None:
                raise self.peek_error(EOF_OBJECT)
            else:
                raise self.peek_error(EXPECTED_COLON)
        return False

    def _skip_number(self):
        first = self.next_char()
        if first == 0x30:
            if self.peek_or_null() in _DIGITS:
                raise self.peek_error(INVALID_NUMBER)
        elif first is not None and 0x31 <= first <= 0x39:
            while self.peek_or_null() in _DIGITS:
                self.index += 1
        else:
            raise self.error(INVALID_NUMBER)
        if self.peek_or_null() == 0x2E:
            self.index += 1
            start = self.index
            while self.peek_or_null() in _DIGITS:
                self.index += 1
            if self.index == start:
                raise self.peek_error(INVALID_NUMBER)
        if self.peek_or_null() in b"eE":
            self.index += 1
            if self.peek_or_null() in b"+-":
                self.index += 1
            first = self.next_char()
            if first is None or first not in _DIGITS:
                raise self.error(INVALID_NUMBER)
            while self.peek_or_null() in _DIGITS:
                self.index += 1

    def end_seq(self):
        byte = self.whitespace()
        if byte == 0x5D:
            self.index += 1
            return None
        if byte == 0x2C:
            self.index += 1
            if self.whitespace() == 0x5D:
                return self.peek_error(TRAILING_COMMA)
            return self.peek_error(TRAILING_CHARACTERS)
        if byte is None:
            return self.peek_error(EOF_LIST)
        return self.peek_error(TRAILING_CHARACTERS)

    def end_map(self):
        byte = self.whitespace()
        if byte == 0x7D:
            self.index += 1
            return None
        if byte == 0x2C:
            return self.peek_error(TRAILING_COMMA)
        if byte is None:
            return self.peek_error(EOF_OBJECT)
        return self.peek_error(TRAILING_CHARACTERS)

    def has_next_element(self, first):
        byte = self.whitespace()
        if byte is None:
            raise self.peek_error(EOF_LIST)
        if byte == 0x5D:
            return False
        if first:
            return True
        if byte == 0x2C:
            self.index += 1
            byte = self.whitespace()
            if byte == 0x5D:
                raise self.peek_error(TRAILING_COMMA)
            if byte is None:
                raise self.peek_error(EOF_VALUE)
            return True
        raise self.peek_error(EXPECTED_LIST_COMMA_OR_END)

    def has_next_key(self, first):
        byte = self.whitespace()
        if byte is None:
            raise self.peek_error(EOF_OBJECT)
        if byte == 0x7D:
            return False
        if first:
            if byte == 0x22:
                return True
            raise self.peek_error(KEY_MUST_BE_A_STRING)
        if byte == 0x2C:
            self.index += 1
            byte = self.whitespace()
            if byte == 0x22:
                return True
            if byte == 0x7D:
                raise self.peek_error(TRAILING_COMMA)
            if byte is None:
                raise self.peek_error(EOF_VALUE)
            raise self.peek_error(KEY_MUST_BE_A_STRING)
        raise self.peek_error(EXPECTED_OBJECT_COMMA_OR_END)

    def colon(self):
        """Between a key and its value. serde_path_to_error puts an error
        here on the map, not on the key."""
        byte = self.whitespace()
        if byte == 0x3A:
            self.index += 1
        elif byte is None:
            raise self.peek_error(EOF_OBJECT)
        else:
            raise self.peek_error(EXPECTED_COLON)

    # --- typed values ---------------------------------------------------------

    def string_value(self, path):
        """A `String`."""
        try:
            byte = self.whitespace()
            if byte is None:
                raise self.peek_error(EOF_VALUE)
            if byte == 0x22:
                self.index += 1
                return self.string()
            raise self.invalid_type("a string")
        except _JsonError as e:
            raise _tag(e, path)

    def list_value(self, path):
        """A `Vec<String>`."""
        try:
            byte = self.whitespace()
            if byte is None:
                raise self.peek_error(EOF_VALUE)
            if byte != 0x5B:
                raise self.invalid_type("a sequence")
            self.index += 1
            items = []
            while self.has_next_element(not items):
                items.append(self.string_value(path + (_seq(len(items)),)))
            self.end_seq()
            return items
        except _JsonError as e:
            raise _tag(e, path)

    def field_value(self, kind, path):
        if kind == LIST:
            return self.list_value(path)
        try:
            if self.whitespace() == 0x6E:  # null
                self.index += 1
                self.ident(b"ull")
                return None
        except _JsonError as e:
            raise _tag(e, path)
        return self.list_value(path)


def parse_config(text, name, fields):
    """Parse `text` like `gavel_sdk::parse_config` parses it into a struct
    `name` with `fields` ([(field name, kind)], in declaration order)."""
    reader = _Reader(text.encode("utf-8"))
    unknown = []
    try:
        values = _struct(reader, name, fields, unknown)
    except _JsonError as e:
        path = _path_text(e.path or ())
        if path in (".", ""):
            raise ConfigError("config: " + reader.describe(e))
        raise key_error(path, reader.describe(e))
    if reader.whitespace() is not None:
        raise ConfigError(
            "config: " + reader.describe(reader.peek_error(TRAILING_CHARACTERS))
        )
    if unknown:
        raise ConfigError("unknown config key `%s`" % unknown[0])
    return values


def _struct(reader, name, fields, unknown):
    root = ()
    try:
        byte = reader.whitespace()
        if byte is None:
            raise reader.peek_error(EOF_VALUE)
        if byte == 0x7B:
            reader.index += 1
            end = reader.end_map
            visit = _visit_map
        elif byte == 0x5B:
            reader.index += 1
            end = reader.end_seq
            visit = _visit_seq
        else:
            raise reader.invalid_type("struct " + name)
        try:
            values = visit(reader, name, fields, unknown)
        except _JsonError as e:
            end()  # serde_json ends the map or list before it reports
            raise reader.fix(e)
        error = end()
        if error is not None:
            raise error
        return values
    except _JsonError as e:
        raise _tag(e, root)


def _defaults(fields):
    return {field: [] if kind == LIST else None for field, kind in fields}


def _visit_map(reader, name, fields, unknown):
    kinds = dict(fields)
    values = _defaults(fields)
    seen = set()
    first = True
    while True:
        try:
            if not reader.has_next_key(first):
                return values
            first = False
            reader.index += 1
            key = reader.string()
        except _JsonError as e:
            raise _tag(e, (_UNKNOWN_KEY,))
        path = (_map(key),)
        kind = kinds.get(key)
        if kind is None:
            unknown.append(key)
            reader.colon()
            try:
                reader.skip_value()
            except _JsonError as e:
                raise _tag(e, path)
            continue
        if key in seen:
            raise _JsonError("duplicate field `%s`" % key)
        seen.add(key)
        reader.colon()
        values[key] = reader.field_value(kind, path)


def _visit_seq(reader, name, fields, unknown):
    values = _defaults(fields)
    first = True
    for index, (field, kind) in enumerate(fields):
        try:
            present = reader.has_next_element(first)
        except _JsonError as e:
            raise _tag(e, ())
        if present:
            first = False
            values[field] = reader.field_value(kind, (_seq(index),))
        elif kind != LIST:
            raise _JsonError(
                "invalid length %d, expected struct %s with %d elements"
                % (index, name, len(fields))
            )
    return values
