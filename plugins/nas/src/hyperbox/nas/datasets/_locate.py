"""Finding a dataset's files under the ``root`` a user gives (never downloading them)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def existing_root(dataset: str, root: str | os.PathLike) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{dataset}: root {os.fspath(root)!r} is not a directory (this reader never downloads)")
    return root


def find_file(dataset: str, root: Path, name: str, folders: Sequence[str], suffixes: Sequence[str] = ("",)) -> Path:
    """``name`` + one of ``suffixes`` in ``root`` or one of its sub-``folders`` (e.g. torchvision's layout)."""
    for folder in ("", *folders):
        for suffix in suffixes:
            path = root / folder / (name + suffix)
            if path.is_file():
                return path
    looked = ", ".join(os.fspath(root / folder) for folder in ("", *folders))
    variants = "|".join(suffix or "''" for suffix in suffixes)
    raise FileNotFoundError(
        f"{dataset}: file {name!r}"
        + (f" (suffix {variants})" if len(suffixes) > 1 else "")
        + f" not found in {looked} (this reader never downloads)"
    )
