"""Plan, apply, verify, roll back: the one path every fix takes.

    dry run: preconditions -> plan (steps against the current state) -> shown; nothing changes
    apply:   lock -> preconditions -> plan -> risk gate -> confirmation -> backups -> steps
             -> verify -> (verification failed or a step failed: undo the started steps,
             last first) -> audit record (file, and journal where one runs)

An empty plan means the fix is already in place: nothing is done and the result is
"unchanged", so applying twice changes nothing the second time.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

from hostmedic.remediations import MODULES, audit
from hostmedic.remediations.actions import StepFailed, worst
from hostmedic.remediations.backup import Backups
from hostmedic.remediations.host import HostError
from hostmedic.remediations.lock import ApplyLock, Busy
from hostmedic.remediations.target import BadValue

# Exit codes of `diagnose fix` (README, "Applying a fix").
APPLIED = 0        # applied and verified, or already in place (nothing to change)
DRY_RUN = 1        # plan shown, changes pending, nothing changed: add --apply
REFUSED = 2        # nothing changed: precondition unmet, not confirmed, flag missing, locked
CANNOT_RUN = 3     # bad arguments, unknown fix, no such domain, no libvirt
ROLLED_BACK = 4    # a step or the verification failed; what was changed has been undone
BROKEN = 5         # a step failed and undoing it failed too: see the backups


class UnknownFix(Exception):
    pass


def load(fix_id: str):
    name = MODULES.get(fix_id)
    if name is None:
        raise UnknownFix(f"no fix {fix_id!r}; `diagnose fix --list` shows them")
    return importlib.import_module(f"hostmedic.remediations.{name}")


@dataclass
class Outcome:
    fix: str
    result: str  # dry-run | unchanged | applied | refused | rolled-back | failed | rollback-failed | error
    code: int
    message: str = ""
    steps: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    backup: str | None = None
    audit: str | None = None
    journal: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"fix": self.fix, "result": self.result, "exit": self.code, "message": self.message,
                "steps": [s.to_json() for s in self.steps], "problems": self.problems,
                "notes": self.notes, "backup": self.backup, "audit": self.audit,
                "journal": self.journal}


class Quiet:
    """What the runner tells and asks: nothing, and never yes (the API's default)."""

    def plan(self, fix, target, host, steps) -> None:
        pass

    def progress(self, text: str) -> None:
        pass

    def manual(self, fix, steps) -> None:
        pass

    def confirm(self, fix, target, risk: str) -> bool | None:
        return None  # no one to ask


def missing_options(fix, target) -> list[str]:
    return [f"--{name}" for name in getattr(fix, "NEEDS", ()) if not getattr(target, _field(name))]


def _field(option: str) -> str:
    return {"disk": "disks"}.get(option, option.replace("-", "_"))


def prepare(fix, host, target) -> tuple[list[str], list]:
    """(what stops the fix, its steps against the current state)."""
    problems = list(fix.preconditions(host, target))
    if problems:
        return problems, []
    return [], list(fix.changes(host, target))


def run(fix_id: str, target, host, *, apply: bool = False, yes: bool = False,
        allow_disruptive: bool = False, ui=None) -> Outcome:
    ui = ui or Quiet()
    try:
        fix = load(fix_id)
    except UnknownFix as err:
        return Outcome(fix_id, "error", CANNOT_RUN, str(err))
    missing = missing_options(fix, target)
    if missing:
        return Outcome(fix.ID, "error", CANNOT_RUN, f"fix {fix.ID} needs {' and '.join(missing)}")
    if getattr(fix, "MANUAL", False):
        host.close()
        ui.manual(fix, fix.plan({"given": {"server": target.server, "mountpoint": target.mount}}) or [])
        if apply:
            return Outcome(fix.ID, "refused", REFUSED, "a check list to follow by hand: "
                           "hostmedic applies nothing for it")
        return Outcome(fix.ID, "manual", APPLIED, "a check list to follow by hand; nothing to apply")
    try:
        if not apply:
            problems, steps = prepare(fix, host, target)
            ui.plan(fix, target, host, steps)
            if problems:
                return Outcome(fix.ID, "refused", REFUSED, "it cannot be applied now: " + "; ".join(problems),
                               problems=problems)
            if not _changing(steps):
                return Outcome(fix.ID, "unchanged", APPLIED, "already in place: nothing to change")
            return Outcome(fix.ID, "dry-run", DRY_RUN, "nothing was changed; add --apply to apply this plan",
                           steps=steps)
        return _apply(fix, target, host, yes, allow_disruptive, ui)
    except (HostError, BadValue, StepFailed) as err:
        return Outcome(fix.ID, "error", CANNOT_RUN, str(err))
    finally:
        host.close()


def _apply(fix, target, host, yes, allow_disruptive, ui) -> Outcome:
    def finish(outcome: Outcome, **more) -> Outcome:
        record = audit.entry(fix, target, host, outcome.result, reason=outcome.message,
                             problems=outcome.problems, backup=outcome.backup,
                             steps=[s.say for s in outcome.steps], **more)
        try:
            outcome.audit = audit.append(host, record)
        except OSError as err:  # e.g. a symlink planted there (never followed): say so, go on
            outcome.problems.append(f"the audit log could not be written ({err.strerror or err}); "
                                    "the journal entry is the only record of this run")
        outcome.journal = audit.to_journal(record)
        return outcome

    try:
        lock = ApplyLock(host).__enter__()
    except Busy as err:
        return finish(Outcome(fix.ID, "refused", REFUSED, str(err)))
    try:
        problems, steps = prepare(fix, host, target)
        ui.plan(fix, target, host, steps)
        if problems:
            return finish(Outcome(fix.ID, "refused", REFUSED,
                                  "it cannot be applied now: " + "; ".join(problems), problems=problems))
        if not _changing(steps):
            return finish(Outcome(fix.ID, "unchanged", APPLIED, "already in place: nothing was changed"))
        risk = worst([fix.RISK] + [s.risk for s in steps])
        if risk != "safe" and not allow_disruptive:
            return finish(Outcome(fix.ID, "refused", REFUSED,
                                  f"this plan is {risk}: add --allow-disruptive to apply it", steps=steps))
        if not yes:
            answer = ui.confirm(fix, target, risk)
            if answer is None:
                return finish(Outcome(fix.ID, "refused", REFUSED, "no terminal to confirm on: "
                                      "add --yes to apply without asking", steps=steps))
            if not answer:
                return finish(Outcome(fix.ID, "refused", REFUSED, "not confirmed", steps=steps))
        return finish(_execute(fix, target, host, steps, ui))
    finally:
        lock.__exit__(None, None, None)


def _execute(fix, target, host, steps, ui) -> Outcome:
    backups = Backups(host, fix.ID)
    done: list = []
    failure = ""
    for step in steps:
        stale = step.stale(host)
        if stale:
            failure = stale
            break
        if step.kind != "note":
            ui.progress(step.say)
        done.append(step)  # before apply: a step that fails half-way is undone too
        try:
            step.apply(host, backups)
        except (StepFailed, OSError) as err:
            failure = f"{step.say}: {err}"
            break
        except Exception as err:  # libvirt and the like: undo what was done, then report
            failure = f"{step.say}: {type(err).__name__}: {err}"
            break
    if failure:
        problems = [failure]
    else:
        try:
            problems = list(fix.verify(host, target, done))
        except Exception as err:  # a check that cannot run proves nothing: undo
            problems = [f"verification could not run: {type(err).__name__}: {err}"]
    if not problems:
        return Outcome(fix.ID, "applied", APPLIED, "applied and verified", steps=done,
                       backup=backups.dir, notes=_notes(steps))
    ui.progress("verification failed: " + "; ".join(problems) if not failure else f"failed: {failure}")
    undo_errors = rollback(fix, host, target, done, ui)
    kept = [s.say for s in done if not s.reversible and s.kind != "note"]
    if undo_errors:
        return Outcome(fix.ID, "rollback-failed", BROKEN,
                       "rollback failed too: " + "; ".join(undo_errors)
                       + (f"; the saved originals are in {backups.dir}" if backups.dir else ""),
                       steps=done, problems=problems, backup=backups.dir)
    if kept and len(kept) == len([s for s in done if s.kind != "note"]):
        return Outcome(fix.ID, "failed", ROLLED_BACK, "failed; its steps cannot be undone "
                       "(nothing was rolled back)", steps=done, problems=problems, backup=backups.dir)
    return Outcome(fix.ID, "rolled-back", ROLLED_BACK, "failed and rolled back: the system is as it was"
                   + (f" (not undoable, kept: {'; '.join(kept)})" if kept else ""),
                   steps=done, problems=problems, backup=backups.dir)


def rollback(fix, host, target, done, ui) -> list[str]:
    """Undo the started steps, last first (a fix may bring its own rollback)."""
    own: Callable | None = getattr(fix, "rollback", None)
    if own is not None:
        return list(own(host, target, done))
    errors = []
    for step in reversed(done):
        if not step.reversible:
            continue
        ui.progress(f"undo: {step.say}")
        try:
            step.undo(host)
        except Exception as err:  # go on undoing the others
            errors.append(f"{step.say}: {err}")
    return errors


def _changing(steps) -> list:
    return [s for s in steps if s.kind != "note"]


def _notes(steps) -> list[str]:
    return [s.say for s in steps if s.kind == "note"]
