"""Keeps the component in step with its sources.

componentize-py does not give the same bytes twice (the interpreter it
snapshots at build time starts from fresh randomness), so a rebuild from
unchanged sources would still change the component. Instead, every
component carries a custom section, `gavel-source-digest`, with the
SHA-256 of the sources it was built from; `build.sh` rebuilds only when
that digest no longer matches.

    source_stamp.py digest ROOT WIT_DIR      print the sources' digest
    source_stamp.py read COMPONENT           print the component's digest
    source_stamp.py write COMPONENT DIGEST   append the digest to the component
"""

import hashlib
import os
import sys

SECTION = "gavel-source-digest"
MAGIC = b"\0asm"


def sources(root, wit_dir):
    files = [os.path.join(root, name) for name in ("requirements.txt", "build.sh", "source_stamp.py")]
    for base, dirs, names in os.walk(os.path.join(root, "src")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        files += [os.path.join(base, n) for n in names if n.endswith(".py")]
    files += [os.path.join(wit_dir, n) for n in os.listdir(wit_dir) if n.endswith(".wit")]
    return sorted(files, key=lambda f: os.path.relpath(f, root))


def digest(root, wit_dir):
    h = hashlib.sha256()
    for path in sources(root, wit_dir):
        with open(path, "rb") as f:
            data = f.read()
        name = os.path.relpath(path, root).replace(os.sep, "/").encode()
        h.update(b"%d:%s%d:" % (len(name), name, len(data)))
        h.update(data)
    return "sha256:" + h.hexdigest()


def _leb(data, at):
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _encode_leb(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def read(path):
    """The digest in the component at `path`, or '' if there is none."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return ""
    if data[:4] != MAGIC:
        return ""
    found = ""
    at = 8
    while at < len(data):
        section = data[at]
        size, body = _leb(data, at + 1)
        if section == 0:
            length, name_at = _leb(data, body)
            if data[name_at : name_at + length] == SECTION.encode():
                found = data[name_at + length : body + size].decode()
        at = body + size
    return found


def write(path, value):
    name = SECTION.encode()
    payload = _encode_leb(len(name)) + name + value.encode()
    with open(path, "ab") as f:
        f.write(b"\0" + _encode_leb(len(payload)) + payload)


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "digest":
        print(digest(sys.argv[2], sys.argv[3]))
    elif command == "read":
        print(read(sys.argv[2]))
    elif command == "write":
        write(sys.argv[2], sys.argv[3])
    else:
        sys.exit("unknown command " + command)
