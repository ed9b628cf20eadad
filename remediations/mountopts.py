"""The shared core of the fstab fixes: set options on one entry, check it with findmnt.

    preconditions: one fstab entry for the mount point, findmnt can read the table
    changes:       the entry's options with the wanted ones set (a one-line diff), then
                   `systemctl daemon-reload` so that systemd regenerates the mount units
    verify:        findmnt reads the wanted options back, and --verify reports no new parse
                   error and no new error on that entry than before the edit
"""
from __future__ import annotations

from hostmedic.remediations import fstab
from hostmedic.remediations.actions import Note, WriteFile
from hostmedic.remediations.target import mount_path


class FstabEdit(WriteFile):
    before: fstab.Check | None = None


def mountpoint(host, target) -> str:
    return mount_path(fstab.mountpoint_of(host, target.mount))


def entry(host, target) -> tuple[fstab.Entry | None, str]:
    """The one entry for the target's mount point, or why there is none."""
    path = host.path(fstab.FSTAB)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as err:
        return None, f"cannot read {fstab.FSTAB}: {err.strerror}"
    except UnicodeDecodeError:
        return None, f"{fstab.FSTAB} is not UTF-8 text: edit it by hand"
    where = mountpoint(host, target)
    found = fstab.find(text, where)
    if not found:
        return None, f"{fstab.FSTAB} has no entry for {where}"
    if len(found) > 1:
        return None, f"{fstab.FSTAB} has {len(found)} entries for {where}: edit it by hand"
    return found[0], ""


def preconditions(host, target, fstypes=None) -> list[str]:
    if not host.has("findmnt"):
        return ["findmnt is missing (package util-linux): cannot check the table"]
    found, problem = entry(host, target)
    if found is None:
        return [problem]
    if fstypes and found.fstype not in fstypes:
        return [f"{found.target} is {found.fstype}, not {' or '.join(sorted(fstypes))}"]
    return []


def changes(host, target, fix_id: str, add: dict, remove: set) -> list:
    found, problem = entry(host, target)
    if found is None:
        return []
    new_options = fstab.merged(found.options, add, remove)
    if new_options == found.options:
        return []
    path = host.path(fstab.FSTAB)
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    reload = [host.systemctl("daemon-reload")] if host.systemd_running() else []
    edit = FstabEdit(host, fstab.FSTAB, fstab.with_options(text, found, new_options),
                     f"Set {','.join(_spelled(add))} on {found.target} in {fstab.FSTAB}"
                     + (f" (and drop {','.join(sorted(remove & set(fstab.option_map(found.options))))})"
                        if remove & set(fstab.option_map(found.options)) else "")
                     + (", then reload systemd" if reload else ""), then=reload)
    edit.before = fstab.verify(host, path)
    steps: list = [edit]
    if not reload:
        steps.append(Note("systemctl daemon-reload skipped: " + (
            "--root acts on a tree; systemd reads fstab when that system boots" if host.offline
            else "systemd is not running here (not PID 1)")))
    return steps


def _spelled(add: dict) -> list[str]:
    return [key if value is None else f"{key}={value}" for key, value in add.items()]


def verify(host, target, done, add: dict, remove: set) -> list[str]:
    path = host.path(fstab.FSTAB)
    where = mountpoint(host, target)
    options = fstab.read_back(host, path, where)
    if options is None:
        return [f"findmnt finds no entry for {where} in {fstab.FSTAB} any more"]
    have = fstab.option_map(options)
    problems = [f"option {opt} is not set" for opt in _spelled(add)
                if have.get(opt.partition("=")[0], "-") != (opt.partition("=")[2] or None)]
    problems += [f"option {opt} is still set" for opt in sorted(remove) if opt in have]
    edit = next((s for s in done if isinstance(s, FstabEdit)), None)
    after = fstab.verify(host, path)
    if edit is not None and edit.before is not None and edit.before.ran:
        if not after.ran:
            problems.append(f"findmnt --verify could not check the new table: {after.text}")
        elif after.parse_errors > edit.before.parse_errors:
            problems.append(f"findmnt --verify: {after.parse_errors} parse error(s) now, "
                            f"{edit.before.parse_errors} before")
        else:
            new = [e for e in after.by_target.get(where, []) if e not in edit.before.by_target.get(where, [])]
            problems += [f"findmnt --verify on {where}: {e}" for e in new]
    return problems
