"""Secrets out of the evidence: passwords, tokens, private keys and connection strings
that turn up in logs, configuration and command lines are masked before facts are saved
or shown.

The flow applies it to the fact base at the end of collection (analysis.collect) and,
for a base that has not been through it (a snapshot saved with --no-redact), before
analysis: a snapshot holds what its report shows, and analysing it replays the same
findings. Masking is idempotent (masked text masks to itself) and keeps the name of what
was hidden ("password=[REDACTED]"), so a line still reads. `--no-redact` keeps everything.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from hostmedic.engine.facts import FactBase

MASK = "[REDACTED]"

# Words naming a secret in "KEY=value", "KEY: value" and "--KEY value".
_WORDS = (r"passw(?:or)?d|passphrase|secret|token|api[_-]?key|access[_-]?key(?:[_-]?id)?|"
          r"private[_-]?key|auth[_-]?key|credentials?|session[_-]?key|client[_-]?secret")

_SECRET_NAME = re.compile(r"(?i)" + _WORDS)
_Rule = tuple[re.Pattern, Callable[[re.Match], str]]


def _keep(*groups: int) -> Callable[[re.Match], str]:
    """The given groups as they are, then the mask in place of the secret that follows."""
    return lambda m: "".join(m.group(g) or "" for g in groups) + MASK


_RULES: list[_Rule] = [
    # PEM private keys (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK), to END or to the end of the text.
    (re.compile(r"(-----BEGIN (?P<kind>[A-Z0-9 ]{0,40}?)PRIVATE KEY(?: BLOCK)?-----)"
                r"(?:.*?(-----END (?P=kind)PRIVATE KEY(?: BLOCK)?-----)|.*)", re.S),
     lambda m: f"{m.group(1)}{MASK}{m.group(3) or ''}"),
    # scheme://user:password@host (postgres, mysql, amqp, redis, mongodb, http, ...)
    (re.compile(r"\b([a-zA-Z][a-zA-Z0-9+.-]{1,30}://[^\s:/@'\"]*:)([^\s/'\"]+)(@)"),
     lambda m: f"{m.group(1)}{MASK}{m.group(3)}"),
    # HTTP credentials: "Authorization: Bearer x", "Proxy-Authorization: Basic x", bare "Bearer x"
    (re.compile(r"(?i)\b((?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?:(?:basic|bearer|digest|negotiate|"
                r"ntlm|token|aws4-hmac-sha256)\s+)?)([^\s\"',;]+)"), _keep(1)),
    (re.compile(r"(?i)\b(bearer\s+)([A-Za-z0-9\-._~+/]{8,}=*)"), _keep(1)),
    # KEY=value, KEY = "value" (node.session.auth.password = x, PGPASSWORD=x, passwd='x' in XML);
    # a whole token is matched, then its name tested: linear even on a megabyte-long token
    (re.compile(r"(?<![\w.-])([\w.-]+\s*=\s*[\"']?)([^\s\"'&;,<>]+)"),
     lambda m: m.group(1) + MASK if _SECRET_NAME.search(m.group(1)) else m.group(0)),
    # KEY: value (YAML, JSON, HTTP headers): the word itself, not a longer name such as a unit
    (re.compile(r"(?i)\b((?:" + _WORDS + r")[\"']?\s*:\s*[\"']?)(?!//)([^\s\"',;]+)"), _keep(1)),
    # qemu's inline secret object: -object secret,id=sec0,data=...,format=base64
    (re.compile(r"(?i)(\bsecret,(?:[^\s,]{1,200},){0,8}?data=)([^,\s\"']+)"), _keep(1)),
    # --password VALUE, -token VALUE
    (re.compile(r"(?i)(?<![\w-])(--?(?:" + _WORDS + r")[\w-]*\s+[\"']?)(?!-)([^\s\"']+)"), _keep(1)),
    # Credentials with a recognisable shape: AWS key ids, GitHub/GitLab/Slack/Google tokens, JWTs
    (re.compile(r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|AROA|APKA)[A-Z0-9]{16}\b"
                r"|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bgithub_pat_\w{22,}|\bglpat-[\w-]{20,}"
                r"|\bxox[abprs]-[A-Za-z0-9-]{10,}|\bAIza[0-9A-Za-z_-]{35}"
                r"|\beyJ[\w-]{10,}\.eyJ[\w-]{10,}\.[\w-]{10,}"), lambda m: MASK),
    # A line that is nothing but base64 (a key or secret printed on its own, line by line)
    (re.compile(r"^\s*(?=[A-Za-z0-9+/]*\d)(?=[A-Za-z0-9+/]*[a-z])(?=[A-Za-z0-9+/]*[A-Z])"
                r"[A-Za-z0-9+/]{60,}={0,2}\s*$"), lambda m: MASK),
]
# Cheap test first: most strings hold none of these and skip the rules above.
_MAYBE = re.compile(r"pass|secret|token|key|auth|bearer|://|credential|A3T|AKIA|ASIA|eyJ|gh[pousr]_|"
                    r"github_pat|glpat|xox|AIza|PASS|SECRET|TOKEN|KEY|AUTH|Pass|Secret|Token|Key|Auth|"
                    r"Bearer|BEARER|CREDENTIAL|Credential|PRIVATE")


def redact_text(text: str) -> str:
    if not (_MAYBE.search(text) or (len(text) >= 60 and " " not in text.strip())):
        return text
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    return text


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    return value


def redact_base(base: FactBase) -> int:
    """Mask secrets in every fact (fields and provenance); returns how many facts changed.
    The count is kept in meta["redacted"], so a report or snapshot says that it was done."""
    changed = 0
    for fact in base.facts:
        touched = False
        for key, value in fact.fields.items():
            if isinstance(value, (int, float, bool)) or value is None:
                continue
            new = redact_value(value)
            if new != value:
                fact.fields[key] = new
                touched = True
        name = fact.source.name
        if isinstance(name, str) and redact_text(name) != name:
            fact.source.name = redact_text(name)
            touched = True
        changed += touched
    base.meta["redacted"] = int(base.meta.get("redacted") or 0) + changed
    return changed
