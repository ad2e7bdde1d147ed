"""Checkpoints: `save` a state dict (names -> arrays) to a .npz file, `load` it back.

    mg.save(model.state_dict(), "model.npz")
    model.load_state_dict(mg.load("model.npz"))

The file is a plain NumPy .npz archive (`np.load` reads it too), holding numeric arrays
only: nothing is pickled, so loading a file from elsewhere cannot run code. `save` writes
a temporary file next to the target and renames it over the target, so a crash mid-save
leaves the old checkpoint (or none), never half of a new one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .recording import values_of

__all__ = ["load", "save"]

PathLike = str | os.PathLike[str]


def save(obj: Mapping[str, Any], path: PathLike) -> Path:
    """Write a state dict {name: array or Tensor} to `path` as an .npz archive; returns the path.

    The file is written at exactly `path` (no suffix is added). Arrays must be numeric
    (bool, integer, floating-point or complex); Tensors are saved as their data. Keys are
    strings that can name an archive entry (no NUL character, valid Unicode), else
    ValueError.
    """
    if not isinstance(obj, Mapping):
        hint = ""
        if hasattr(obj, "state_dict"):
            hint = "; save its parameters with mg.save(model.state_dict(), path)"
        raise TypeError(
            f"save: expected a state dict (a mapping of names to arrays), got "
            f"{type(obj).__name__}{hint}"
        )
    arrays = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"save: keys must be strings, got {key!r} ({type(key).__name__})")
        # (a zip member's name: cut at a NUL, and UTF-8, which lone surrogates are not)
        if "\0" in key or _not_utf8(key):
            raise ValueError(
                f"save: the key {key!r} cannot be a name in the archive (a NUL character, or "
                "text that is not valid Unicode); rename it"
            )
        try:
            array = values_of(value)
        except ValueError as err:  # a ragged nested list
            raise TypeError(f"save: {key!r} is not an array: {err}") from None
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"save: {key!r} has dtype {array.dtype}; a checkpoint holds numeric arrays only "
                "(nothing is pickled)"
            )
        arrays[key] = array

    given = target = Path(path)
    if target.is_symlink():  # (the link stays: the file it points to is replaced)
        try:
            target = target.resolve(strict=False)
        except (RuntimeError, OSError) as err:  # (a loop of links)
            raise OSError(f"save: cannot follow the symlink {str(given)!r}: {err}") from None
    if target.is_dir():
        raise IsADirectoryError(f"save: {str(target)!r} is a directory; give a file path")
    if not target.parent.is_dir():
        raise FileNotFoundError(
            f"save: the directory {str(target.parent)!r} does not exist; create it first, e.g. "
            "Path(path).parent.mkdir(parents=True, exist_ok=True)"
        )
    tmp = target.with_name(f".mg-{secrets.token_hex(4)}.tmp")  # (short: any name fits)
    # os.open with mode 0o666 lets the umask decide the permissions, as for any new file;
    # a file written over keeps its own.
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as err:
        raise type(err)(f"save: cannot write into {str(target.parent)!r}: {err}") from None
    try:
        with os.fdopen(fd, "wb") as file:
            if target.exists():  # (best effort: some file systems refuse chmod)
                with contextlib.suppress(OSError):
                    os.chmod(tmp, stat.S_IMODE(target.stat().st_mode) & 0o777)
            with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
                for key, array in arrays.items():
                    with archive.open(key + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, array, allow_pickle=False)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return given


def load(path: PathLike) -> dict[str, np.ndarray]:
    """Read a state dict written by `save` (or any .npz of numeric arrays), in saved order.

    A file that is not a valid .npz archive, or that holds pickled Python objects (which
    are never unpickled), raises ValueError; for a file PyTorch's torch.save wrote, it
    says so, and how to convert the weights.
    """
    source = Path(path)
    what = f"load: {str(source)!r}"
    with open(source, "rb") as file:
        magic = file.read(6)
    if not magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # a zip archive (.npz)
        if magic.startswith(b"\x93NUMPY"):
            kind = "a single .npy array, not a state dict (np.load reads it)"
        elif magic[:1] == b"\x80":
            kind = "a Python pickle (torch.save writes these), which mg.load never unpickles"
        else:
            kind = f"not a .npz archive (it starts with {magic!r})"
        raise ValueError(f"{what} is {kind}; mg.load reads the .npz archives mg.save writes")
    try:
        archive = np.load(source, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{what} is a corrupt or truncated .npz archive: {err}") from err
    state: dict[str, np.ndarray] = {}
    with archive:
        # Each member read by its own file name ("a.npy" for the key "a"): by key, NumPy
        # would give the key "a.npy" the member "a.npy", which holds the key "a".
        for member in archive.zip.namelist():
            key = member.removesuffix(".npy")
            try:
                value = archive[member]
            except ValueError as err:
                if "pickle" in str(err):
                    raise ValueError(
                        f"{what}: entry {key!r} holds pickled Python objects; mg.load refuses to "
                        "unpickle them (that could run arbitrary code). A checkpoint holds "
                        "numeric arrays only"
                    ) from err
                raise ValueError(f"{what}: entry {key!r} is corrupt: {err}") from err
            except (OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
                raise ValueError(f"{what}: entry {key!r} is corrupt or truncated: {err}") from err
            if not isinstance(value, np.ndarray):
                hint = ""
                if key.endswith("data.pkl"):
                    hint = (
                        " It looks like PyTorch's torch.save, whose pickles mg.load never "
                        "unpickles: in PyTorch, save the weights as NumPy arrays, mg.save({k: "
                        "v.numpy() for k, v in model.state_dict().items()}, path)"
                    )
                raise ValueError(
                    f"{what}: entry {key!r} is not a NumPy array; this is not a checkpoint "
                    f"written by mg.save.{hint}"
                )
            state[key] = value
    return state


def _not_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
