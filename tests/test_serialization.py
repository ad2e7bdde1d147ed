"""mg.save / mg.load: round trips, atomic writes, and clear errors for corrupt files and
pickled objects (which are never unpickled)."""

from __future__ import annotations

import os
import pickle
import stat
import zipfile

import numpy as np
import pytest

import microgradnp as mg
from microgradnp import serialization
from microgradnp.nn import Linear, Sequential, Tanh
from microgradnp.serialization import load, save


def sample_state():
    rng = np.random.default_rng(0)
    return {
        "0.weight": rng.normal(size=(3, 2)),
        "0.bias": rng.normal(size=3).astype(np.float32),
        "steps": np.array(7, dtype=np.int64),
        "mask": np.array([True, False]),
        "empty": np.zeros((0, 4)),
        "file": np.arange(3.0),  # np.savez would take this key for its own argument
        "a/b c.npy": np.ones(1),  # awkward characters survive
    }


def test_round_trip_keeps_keys_order_values_and_dtypes(tmp_path) -> None:
    state = sample_state()
    path = save(state, tmp_path / "ckpt.npz")
    assert path == tmp_path / "ckpt.npz"
    loaded = load(path)
    assert list(loaded) == list(state)
    for key, value in state.items():
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape, key
        assert np.array_equal(loaded[key], value), key
    # A plain .npz: NumPy reads it too, without pickle.
    with np.load(path, allow_pickle=False) as archive:
        assert np.array_equal(archive["0.weight"], state["0.weight"])


def test_tensors_are_saved_as_their_data_and_str_paths_work(tmp_path) -> None:
    t = mg.tensor([1.0, 2.0], requires_grad=True)
    path = str(tmp_path / "t.npz")
    save({"t": t}, path)
    assert np.array_equal(load(path)["t"], [1.0, 2.0])


def test_path_is_used_as_given(tmp_path) -> None:
    save({"x": np.ones(2)}, tmp_path / "model.ckpt")
    assert sorted(os.listdir(tmp_path)) == ["model.ckpt"]  # no .npz appended, no leftovers
    assert np.array_equal(load(tmp_path / "model.ckpt")["x"], np.ones(2))


def test_module_state_dict_round_trip(tmp_path) -> None:
    model = Sequential(Linear(2, 4, rng=0), Tanh(), Linear(4, 1, rng=1))
    x = np.random.default_rng(2).normal(size=(6, 2))
    save(model.state_dict(), tmp_path / "model.npz")
    other = Sequential(Linear(2, 4, rng=5), Tanh(), Linear(4, 1, rng=6))
    assert not np.array_equal(other(x).data, model(x).data)
    other.load_state_dict(load(tmp_path / "model.npz"))
    assert np.array_equal(other(x).data, model(x).data)


def test_overwrite_replaces_the_old_file(tmp_path) -> None:
    path = tmp_path / "ckpt.npz"
    save({"a": np.ones(2)}, path)
    save({"b": np.zeros(3)}, path)
    assert list(load(path)) == ["b"]


def test_permissions_follow_the_umask(tmp_path) -> None:
    mask = os.umask(0o022)
    try:
        path = save({"a": np.ones(1)}, tmp_path / "ckpt.npz")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_a_crash_mid_save_leaves_the_old_checkpoint(tmp_path, monkeypatch) -> None:
    path = tmp_path / "ckpt.npz"
    save({"a": np.arange(4.0)}, path)
    written = []

    def failing_write_array(file, array, **kwargs):
        if written:
            raise OSError("disk full")
        written.append(array)
        original(file, array, **kwargs)

    original = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", failing_write_array)
    with pytest.raises(OSError, match="disk full"):
        save({"x": np.ones(2), "y": np.ones(3)}, path)
    monkeypatch.undo()
    assert written  # the crash came after part of the new file was written
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]  # no temporary file left
    assert np.array_equal(load(path)["a"], np.arange(4.0))


def test_save_rejects_bad_input(tmp_path) -> None:
    model = Linear(2, 2)
    with pytest.raises(TypeError, match=r"mg.save\(model.state_dict\(\), path\)"):
        save(model, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="expected a state dict"):
        save([np.ones(2)], tmp_path / "m.npz")
    with pytest.raises(TypeError, match="keys must be strings, got 0"):
        save({0: np.ones(2)}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="'w' has dtype object"):
        save({"w": np.array([{"a": 1}], dtype=object)}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="'w' has dtype <U"):
        save({"w": np.array(["text"])}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match=r"'w' is not an array: .*inhomogeneous"):
        save({"w": [[1, 2], [3]]}, tmp_path / "m.npz")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        save({"w": np.ones(1)}, tmp_path)
    assert os.listdir(tmp_path) == []


def test_load_refuses_pickled_objects(tmp_path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.ones(2), obj=np.array([{"payload": 1}], dtype=object))
    with pytest.raises(ValueError, match=r"'obj' holds pickled Python objects.*refuses"):
        load(path)
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(pickle.dumps({"w": np.ones(2)}))
    with pytest.raises(ValueError, match="is a Python pickle"):
        load(pickled)


def test_load_corrupt_files(tmp_path) -> None:
    good = save({"w": np.arange(100.0)}, tmp_path / "good.npz").read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"truncated\.npz' is a corrupt or truncated \.npz"):
        load(truncated)
    flipped = tmp_path / "flipped.npz"
    data = bytearray(good)
    data[200] ^= 0xFF  # inside the array's bytes: the zip checksum catches it
    flipped.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="entry 'w' is corrupt"):
        load(flipped)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match=r"not a \.npz archive"):
        load(garbage)
    single = tmp_path / "single.npy"
    np.save(single, np.ones(3))
    with pytest.raises(ValueError, match=r"a single \.npy array, not a state dict"):
        load(single)


def test_load_zip_with_a_non_array_member(tmp_path) -> None:
    path = tmp_path / "other.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.pkl", b"\x80\x04K\x01.")
    with pytest.raises(ValueError, match=r"entry 'data\.pkl' is not a NumPy array"):
        load(path)


def test_load_missing_file(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "nothing.npz")


def test_public_names() -> None:
    assert serialization.__all__ == ["load", "save"]


def test_a_key_that_is_another_key_plus_npy_keeps_its_own_array(tmp_path) -> None:
    # NumPy's reader, asked for "a.npy", finds the member "a.npy", which holds the key "a"
    path = tmp_path / "x.npz"
    save({"a": np.array([1.0]), "a.npy": np.array([2.0])}, path)
    state = load(path)
    assert list(state) == ["a", "a.npy"]
    assert state["a"][0] == 1.0 and state["a.npy"][0] == 2.0


def test_saving_over_a_checkpoint_keeps_its_permissions_and_its_symlink(tmp_path) -> None:
    real = tmp_path / "real.npz"
    save({"w": np.ones(2)}, real)
    os.chmod(real, 0o600)
    link = tmp_path / "latest.npz"
    link.symlink_to(real)
    save({"w": np.zeros(2)}, link)  # through the link: the file it points to is replaced
    assert link.is_symlink() and stat.S_IMODE(real.stat().st_mode) == 0o600
    assert np.array_equal(load(real)["w"], np.zeros(2))
    long_name = tmp_path / ("c" * 240 + ".npz")  # (the longest names a file system allows)
    save({"w": np.ones(1)}, long_name)
    assert load(long_name)["w"][0] == 1.0


def test_saving_through_a_loop_of_links_or_into_a_closed_directory_says_so(tmp_path) -> None:
    loop = tmp_path / "loop.npz"
    loop.symlink_to(loop)
    with pytest.raises(OSError, match="save: cannot follow the symlink"):
        save({"w": np.ones(1)}, loop)
    assert save({"w": np.ones(1)}, tmp_path / "x.npz") == tmp_path / "x.npz"  # as given
    closed = tmp_path / "closed"
    closed.mkdir()
    closed.chmod(0o500)
    try:
        if os.access(closed, os.W_OK):  # (root writes anywhere: nothing to refuse)
            return
        with pytest.raises(PermissionError, match="save: cannot write into"):
            save({"w": np.ones(1)}, closed / "x.npz")
    finally:
        closed.chmod(0o700)
