"""The ``replay --out`` directory: checked before anything is written, never silently mixed.

A directory that already holds files is refused unless ``--force``; with ``--force`` only the
files an earlier replay listed in the directory's manifest (:data:`MANIFEST`) are removed, and
everything else is left alone. Each pcap is added to the manifest before it is created, so even
the files of a killed run are known to the next one.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from macvlan_sim.model.errors import SimError

MANIFEST = ".macvlan-sim-replay"


class OutDir:
    """A prepared output directory; :meth:`add` records a file before it is written."""

    def __init__(self, path: Path, created: bool) -> None:
        self.path = path
        self.created = created
        self.files: list[Path] = []

    def add(self, file: Path) -> None:
        self.files.append(file)
        try:
            with open(self.path / MANIFEST, "a", encoding="utf-8") as f:
                f.write(file.name + "\n")
        except OSError as exc:
            raise SimError(f"{self.path / MANIFEST}: cannot write: {exc.strerror or exc}") from None

    def discard(self) -> None:
        """After a failed run (its files already removed): remove the manifest, which lists
        only this run's files (an earlier run's were cleared before it started), and the
        directory itself if this run created it and nothing else is in it."""
        try:
            (self.path / MANIFEST).unlink(missing_ok=True)
            if self.created:
                self.path.rmdir()
        except OSError:
            pass


def prepare_out_dir(path: Path, *, force: bool) -> OutDir:
    """Create ``path`` or check it is a directory replay may write into (see module doc)."""
    where = f"--out {path}"
    try:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if path.is_symlink():
                raise SimError(f"{where}: is a symbolic link to nothing") from None
            path.mkdir(parents=True)
            return OutDir(path, created=True)
        if not stat.S_ISDIR(st.st_mode):
            raise SimError(f"{where}: exists and is not a directory")
        entries = sorted(os.listdir(path))
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SimError(f"{where}: too many levels of symbolic links (a link loop?)") from None
        raise SimError(f"{where}: {exc.strerror or exc}") from None
    if entries:
        own = _own_files(path)
        if not force:
            earlier = sum(1 for e in entries if e in own or e == MANIFEST)
            raise SimError(
                f"{where}: directory is not empty ({len(entries)} entries, {earlier} from an "
                "earlier replay); use --force to replace the earlier replay's files"
            )
        _remove_own(path, own)
    return OutDir(path, created=False)


def _own_files(path: Path) -> set[str]:
    try:
        text = (path / MANIFEST).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise SimError(f"{path / MANIFEST}: cannot read: {exc.strerror or exc}") from None
    # Only plain names: a manifest can never make replay delete outside its directory.
    return {n for n in text.splitlines() if n and "/" not in n and n not in (".", "..")}


def _remove_own(path: Path, own: set[str]) -> None:
    for name in sorted(own):
        target = path / name
        try:
            if target.is_file() or target.is_symlink():
                target.unlink()
        except OSError as exc:
            raise SimError(f"{target}: cannot remove: {exc.strerror or exc}") from None
    try:
        (path / MANIFEST).unlink(missing_ok=True)
    except OSError as exc:
        raise SimError(f"{path / MANIFEST}: cannot remove: {exc.strerror or exc}") from None
