"""Loading and validating the rule pack: one YAML file per rule id.

A rule is data: symptom patterns, conditions, severity, explanation, references
and remediation ids. Each file is checked against rule.schema.json and for what a
schema cannot see (regexes that compile, aliases that exist); every problem names
the file, the line and the field. A broken rule is skipped, never the whole pack.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jsonschema
import yaml

from hostmedic.engine.patterns import SymptomPattern

_SCHEMA = json.loads(resources.files("hostmedic.engine").joinpath("rule.schema.json").read_text())
_VALIDATOR = jsonschema.Draft202012Validator(_SCHEMA)


@dataclass
class RuleProblem:
    path: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


@dataclass
class Rule:
    id: str
    data: dict[str, Any]
    path: str
    symptoms: list[SymptomPattern] = field(default_factory=list)

    @property
    def severity(self) -> str:
        return self.data["severity"]

    @property
    def title(self) -> str:
        return self.data["title"]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.data, sort_keys=True, default=str).encode()).hexdigest()[:12]


@dataclass
class RulePack:
    rules: list[Rule] = field(default_factory=list)
    problems: list[RuleProblem] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    overridden: list[str] = field(default_factory=list)  # "id: built-in path -> user path"

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @property
    def version(self) -> str:
        digest = hashlib.sha256("".join(r.digest for r in self.rules).encode()).hexdigest()[:10]
        return f"{len(self.rules)} rules, {digest}"

    def symptom_patterns(self) -> list[SymptomPattern]:
        """Every pattern once (two rules may define the same symptom kind the same way)."""
        seen: set[tuple[str, str]] = set()
        out = []
        for rule in self.rules:
            for pat in rule.symptoms:
                key = (pat.kind, pat.source)
                if key not in seen:
                    seen.add(key)
                    out.append(pat)
        return out


def builtin_rules_dir() -> str:
    return str(resources.files("hostmedic.rules"))


def load_pack(extra_dirs: list[str] | None = None, builtin: bool = True) -> RulePack:
    pack = RulePack()
    dirs = ([builtin_rules_dir()] if builtin else []) + list(extra_dirs or [])
    for directory in dirs:
        pack.dirs.append(directory)
        if not os.path.isdir(directory):
            pack.problems.append(RuleProblem(directory, None, "", "no such rule directory"))
            continue
        here: set[str] = set()
        for name in sorted(os.listdir(directory)):
            if name.endswith((".yaml", ".yml")):
                rule, problems = load_rule(os.path.join(directory, name))
                pack.problems.extend(problems)
                if rule is None:
                    continue
                if rule.id in here:
                    pack.problems.append(RuleProblem(rule.path, 1, "id",
                                                     f"duplicate rule id {rule.id!r}; this file is skipped"))
                    continue
                here.add(rule.id)
                earlier = pack.get(rule.id)
                if earlier:  # a later directory (the user's) overrides a rule by id
                    pack.overridden.append(f"{rule.id}: {earlier.path} -> {rule.path}")
                    pack.rules.remove(earlier)
                pack.rules.append(rule)
    pack.problems += _conflicting_symptoms(pack.rules)
    return pack


def _spec(pat: SymptomPattern) -> tuple:
    return (pat.idents, pat.set_fields, pat.trace, {k: (f, r.pattern) for k, (f, r) in pat.flags.items()})


def _conflicting_symptoms(rules: list[Rule]) -> list[RuleProblem]:
    """The same symptom (kind and regex) spelt with other flags or fields in two rules:
    only one spec is used for a line, so they must agree."""
    first: dict[tuple[str, str], tuple[Rule, SymptomPattern]] = {}
    problems = []
    for rule in rules:
        for pat in rule.symptoms:
            key = (pat.kind, pat.source)
            if key not in first:
                first[key] = (rule, pat)
                continue
            other_rule, other = first[key]
            if _spec(pat) != _spec(other):
                problems.append(RuleProblem(rule.path, None, "symptoms",
                                            f"symptom {pat.kind!r} has the same pattern as in {other_rule.path} "
                                            "but other idents/set/trace/flags; make them identical"))
    return problems


MAX_RULE_BYTES = 1 << 20  # a rule is a few kB; a bigger file is a mistake


def load_rule(path: str) -> tuple[Rule | None, list[RuleProblem]]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_RULE_BYTES + 1)
    except OSError as err:
        return None, [RuleProblem(path, None, "", f"cannot read: {err.strerror or err}")]
    if len(raw) > MAX_RULE_BYTES:
        return None, [RuleProblem(path, None, "", f"larger than {MAX_RULE_BYTES >> 10} KiB: not a rule file")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, [RuleProblem(path, raw[:err.start].count(b"\n") + 1, "",
                                  f"not UTF-8 text (byte {raw[err.start]:#04x} at offset {err.start})")]
    try:
        hazard = _hazard(text)  # before loading: deep nesting crashes the C loader
        if hazard:
            return None, [RuleProblem(path, hazard[0], "", hazard[1])]
        data = yaml.load(text, Loader=_LOADER)
        node = _Lazy(text)  # YAML nodes (for line numbers) only when there is a problem
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        return None, [RuleProblem(path, mark.line + 1 if mark else None, "",
                                  f"not valid YAML: {getattr(err, 'problem', err)}")]
    except ValueError as err:  # a scalar YAML cannot turn into a value (a 5000-digit number)
        return None, [RuleProblem(path, None, "", f"not valid YAML: {err}")]
    if not isinstance(data, dict):
        return None, [RuleProblem(path, 1, "", "a rule file must hold one mapping (id:, title:, ...)")]
    problems = [RuleProblem(path, _line_of(node, list(err.absolute_path)),
                            _field_name(err.absolute_path), _schema_message(err))
                for err in sorted(_VALIDATOR.iter_errors(data), key=lambda e: list(map(str, e.path)))]
    if problems:
        return None, problems
    stem = os.path.splitext(os.path.basename(path))[0]
    if data["id"] != stem:
        return None, [RuleProblem(path, _line_of(node, ["id"]), "id",
                                  f"id {data['id']!r} must match the file name {stem!r}")]
    rule = Rule(id=data["id"], data=data, path=path)
    problems += _check_semantics(rule, node)
    return (None if problems else rule), problems


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ten times faster


MAX_DEPTH = 64  # a rule nests a few levels; libyaml's loader overflows the C stack near 30,000


def _hazard(text: str) -> tuple[int, str] | None:
    """(line, problem) of what no rule needs and a hostile file uses: an alias (a few lines
    of anchors expand to gigabytes when validated or hashed), or very deep nesting."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):  # events only: no recursion, no values
        if isinstance(event, yaml.AliasEvent):
            return event.start_mark.line + 1, ("YAML aliases (*name) are not allowed in a rule "
                                               "file: write the value out")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return event.start_mark.line + 1, f"nested deeper than {MAX_DEPTH} levels"
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


class _Lazy:
    """The YAML node tree of a file, composed the first time a line number is needed."""

    def __init__(self, text: str):
        self.text = text
        self._node: yaml.Node | None = None

    @property
    def node(self) -> yaml.Node:
        if self._node is None:
            self._node = yaml.compose(self.text, Loader=_LOADER)
        return self._node


def _check_semantics(rule: Rule, node) -> list[RuleProblem]:
    """What the schema cannot see: regexes compile, aliases and fields referenced exist."""
    problems = []
    for i, sym in enumerate(rule.data.get("symptoms") or []):
        try:
            rule.symptoms.append(SymptomPattern.from_rule(sym))
        except re.error as err:
            problems.append(RuleProblem(rule.path, _line_of(node, ["symptoms", i, "pattern"]),
                                        f"symptoms[{i}].pattern", f"bad regex: {err}"))
    for a, alt in enumerate(rule.data["when"]):
        aliases: list[str] = []
        for f, fm in enumerate(alt["facts"]):
            here = ["when", a, "facts", f]
            refs = [fm.get("after"), fm.get("before"), (fm.get("within") or {}).get("of")]
            refs += [str(v).split(".", 1)[0] for v in _refs(fm.get("where"))]
            if isinstance(fm.get("same"), dict):
                refs += [v.split(".", 1)[0] for v in fm["same"].values()]
            for ref in filter(None, refs):
                if ref not in aliases:
                    problems.append(RuleProblem(rule.path, _line_of(node, here), f"when[{a}].facts[{f}]",
                                                f"refers to {ref!r}, which is not an earlier fact's 'as'"))
            if fm.get("same") and not aliases:
                problems.append(RuleProblem(rule.path, _line_of(node, here + ["same"]),
                                            f"when[{a}].facts[{f}].same", "the first fact has nothing to join with"))
            if fm["as"] in aliases:
                problems.append(RuleProblem(rule.path, _line_of(node, here + ["as"]),
                                            f"when[{a}].facts[{f}].as", f"alias {fm['as']!r} used twice"))
            aliases.append(fm["as"])
        if all(fm.get("absent") for fm in alt["facts"]):
            problems.append(RuleProblem(rule.path, _line_of(node, ["when", a]), f"when[{a}]",
                                        "needs at least one fact that is present"))
    return problems


def _refs(where: Any) -> list[str]:
    """References ("$alias.field") inside a where clause."""
    out = []
    if isinstance(where, dict):
        for value in where.values():
            out += _refs(value)
    elif isinstance(where, str) and where.startswith("$"):
        out.append(where[1:])
    return out


def _line_of(lazy: _Lazy, path: list[Any]) -> int | None:
    """1-based line of the YAML node at a JSON path (the deepest one that exists)."""
    node = lazy.node
    line = node.start_mark.line + 1 if node is not None else None
    for step in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def _field_name(path) -> str:
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "(top)"


def _schema_message(err: jsonschema.ValidationError) -> str:
    if err.validator == "required":
        return err.message.replace("is a required property", "is required")
    if err.validator == "additionalProperties":
        return err.message + " (check the spelling)"
    if err.validator == "enum":
        return f"{err.instance!r} is not one of {err.validator_value}"
    return err.message
