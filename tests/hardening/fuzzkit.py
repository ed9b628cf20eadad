"""Bad input for the hardening tests: real fixtures, damaged the ways incidents damage them.

A Source hands every parser `str` decoded from bytes with errors="replace", so binary junk
and invalid UTF-8 reach a parser as U+FFFD and control characters, never as an exception.
The strategies below build that: random text, random bytes decoded like a Source does, and
real fixture files cut short, with junk spliced in, huge numbers, huge lines and so on.
"""
from __future__ import annotations

import glob
import os
import random

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(REPO, "tests", "data")

# Modest example counts keep `pytest` fast; `make check-hardening` (run by `make test`, so by
# CI) raises them with HOSTMEDIC_FUZZ_EXAMPLES.
EXAMPLES = int(os.environ.get("HOSTMEDIC_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])
FUZZ_FEW = settings(FUZZ, max_examples=max(10, EXAMPLES // 3))


def decode(data: bytes) -> str:
    """What a Source does with bytes."""
    return data.decode("utf-8", errors="replace")


def samples(*patterns: str) -> list[str]:
    """Real fixture files (globs under tests/data), decoded as a Source decodes them,
    or \"text:...\" samples quoted inline."""
    out = []
    for pattern in patterns:
        if pattern.startswith("text:"):  # a real sample quoted inline
            out.append(pattern[5:])
            continue
        for path in sorted(glob.glob(os.path.join(DATA, pattern), recursive=True)):
            if os.path.isfile(path):
                with open(path, "rb") as fh:
                    out.append(decode(fh.read()))
    assert out, f"no fixture matches {patterns}"
    return out


JUNK = [b"\xff\xfe\xfd", b"\xc3(", b"\xe2\x82", b"\x00\x00", b"\x1b[31m", b"\r", b"\x0b\x0c",
        b"\xe2\x80\xa8", b"\xc2\x85", b"-- Boot --", b"[", b"]", b":", b"=", b"\"", b"<", b"'"]
NUMBERS = ["0", "-1", "999999999999999999999999999999", "9" * 5000, "1e999", "nan", "-0", "00"]


def mutate(text: str, how: str, pos: int, blob: bytes) -> str:
    """One way a file comes out damaged; pos and blob choose where and what."""
    lines = text.splitlines(keepends=True)
    cut = pos % (len(text) + 1)
    junk = decode(blob or JUNK[pos % len(JUNK)])
    if how == "truncate":
        return text[:cut]
    if how == "splice":
        return text[:cut] + junk + text[cut:]
    if how == "invalid_utf8":
        raw = text.encode("utf-8", "surrogatepass")
        at = pos % (len(raw) + 1)
        return decode(raw[:at] + b"\xff\xc3\x28\xe2\x82" + raw[at:])
    if how == "nul":
        return text.replace("\n", "\0\n", pos % 5 + 1)
    if how == "huge_line":
        filler = (junk or "x") * (200_000 // max(1, len(junk or "x")))
        return text[:cut] + filler + text[cut:]
    if how == "drop_lines" and lines:
        rng = random.Random(pos)
        return "".join(l for l in lines if rng.random() > 0.3)
    if how == "shuffle" and lines:
        rng = random.Random(pos)
        rng.shuffle(lines)
        return "".join(lines)
    if how == "repeat":
        return text * (pos % 4 + 2)
    if how == "numbers":
        import re
        rng = random.Random(pos)
        return re.sub(r"\d+", lambda m: rng.choice(NUMBERS) if rng.random() < 0.3 else m.group(0), text)
    if how == "columns" and lines:
        rng = random.Random(pos)
        return "".join(" ".join(w for w in l.split(" ") if rng.random() > 0.25) + "\n" for l in lines)
    if how == "crlf":
        return text.replace("\n", "\r\n")
    if how == "empty":
        return ""
    if how == "whitespace":
        return " \n\t\n" * (pos % 3 + 1)
    return text


MUTATIONS = ["truncate", "splice", "invalid_utf8", "nul", "huge_line", "drop_lines", "shuffle",
             "repeat", "numbers", "columns", "crlf", "empty", "whitespace", "none"]


def bad_text(real: list[str]) -> st.SearchStrategy[str]:
    """Random text, random bytes (decoded like a Source), or a real sample damaged."""
    damaged = st.builds(mutate, st.sampled_from(real), st.sampled_from(MUTATIONS),
                        st.integers(0, 1 << 30), st.binary(max_size=64))
    return st.one_of(
        damaged, damaged, damaged,
        st.text(max_size=2000),
        st.binary(max_size=2000).map(decode),
        st.lists(st.sampled_from(sum((t.splitlines() for t in real), [])[:400] or [""]), max_size=40)
          .map("\n".join),
    )


def huge(real: list[str], size: int = 4 << 20) -> str:
    """A real sample repeated to SIZE characters (a huge file)."""
    base = "\n".join(real) + "\n"
    return base * (size // max(1, len(base)) + 1)
