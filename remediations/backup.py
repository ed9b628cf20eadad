"""Copies of what a fix changes, taken before it changes it.

One folder per apply, /var/lib/hostmedic/backups/<UTC time>-<fix id>/ (under --root when
given), mode 0700: files keep their path inside it (etc/fstab), a domain definition is
domain-NAME.xml (taken with its secrets, hence private), and manifest.json lists each item,
where it came from and whether it existed (a drop-in that did not exist is undone by
deleting it).
"""
from __future__ import annotations

import json
import os
import time

from hostmedic.engine.facts import write_private_file

BACKUP_DIR = "var/lib/hostmedic/backups"


class Backups:
    def __init__(self, host, fix_id: str):
        self.host, self.fix_id = host, fix_id
        self.dir: str | None = None
        self.items: list[dict] = []

    def _folder(self) -> str:
        if self.dir is None:
            base = self.host.state_path(BACKUP_DIR)
            os.makedirs(base, mode=0o700, exist_ok=True)
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            for n in range(1000):
                candidate = os.path.join(base, f"{stamp}-{self.fix_id}" + (f".{n}" if n else ""))
                try:
                    os.mkdir(candidate, 0o700)
                except FileExistsError:
                    continue
                self.dir = candidate
                break
            else:
                raise OSError(f"cannot make a backup folder under {base}")
        return self.dir

    def save_file(self, shown: str, text: str | None, mode: int) -> None:
        """A copy of file SHOWN (its path on the target system), or a note that it did not exist."""
        item = {"origin": shown, "existed": text is not None, "mode": f"{mode:04o}"}
        if text is not None:
            saved = os.path.join(self._folder(), shown.lstrip("/"))
            os.makedirs(os.path.dirname(saved), mode=0o700, exist_ok=True)
            write_private_file(saved, text)
            item["saved_as"] = saved
        self._add(item)

    def save_text(self, name: str, text: str, origin: str) -> None:
        saved = os.path.join(self._folder(), name)
        write_private_file(saved, text)
        self._add({"origin": origin, "existed": True, "saved_as": saved})

    def _add(self, item: dict) -> None:
        self.items.append(item)
        manifest = {"fix": self.fix_id, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "items": self.items}
        write_private_file(os.path.join(self._folder(), "manifest.json"),
                           json.dumps(manifest, indent=2) + "\n")
