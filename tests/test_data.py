import numpy as np
import pytest

from jsc_hw.config import DataSpec
from jsc_hw.data import load_splits, make_splits, split_rows
from jsc_hw.schema import Jets

from conftest import synthetic_jets


def test_splits_are_disjoint_and_cover_everything():
    train, val, test = split_rows(10_000, 0.15, 0.2, seed=3)
    assert (len(train), len(val), len(test)) == (6500, 1500, 2000)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(10_000))


def test_splits_are_seeded():
    a, b = split_rows(1000, 0.1, 0.1, seed=1), split_rows(1000, 0.1, 0.1, seed=1)
    assert all((x == y).all() for x, y in zip(a, b))
    assert not (split_rows(1000, 0.1, 0.1, seed=2)[2] == a[2]).all()


def test_scaler_is_fitted_on_train_only(synthetic_npz):
    splits = load_splits(DataSpec(path=str(synthetic_npz), val_fraction=0.2, test_fraction=0.2))
    assert np.allclose(splits.train.x.mean(0), 0, atol=1e-5) and np.allclose(splits.train.x.std(0), 1, atol=1e-4)
    assert not np.allclose(splits.val.x.mean(0), 0, atol=1e-3)  # val statistics were not used
    rows = [set(s.rows.tolist()) for s in (splits.train, splits.val, splits.test)]
    assert not (rows[0] & rows[1] or rows[0] & rows[2] or rows[1] & rows[2])
    x, _ = synthetic_jets()
    raw = x[splits.val.rows[:5]]
    assert np.allclose(splits.scaler(raw), splits.val.x[:5], atol=1e-6)


def test_max_rows_takes_a_seeded_subset():
    x, y = synthetic_jets()
    s = make_splits(Jets(x, y), DataSpec(max_rows=1000))
    assert len(s.train.y) + len(s.val.y) + len(s.test.y) == 1000
    with pytest.raises(ValueError, match="too few"):
        make_splits(Jets(x[:3], y[:3]), DataSpec())


def test_a_scaler_file_standardises_the_held_out_split(tmp_path, synthetic_npz):
    """A model trained elsewhere brings its own standardisation (JSON or NPZ); without one the training split's is
    fitted, as for jsc-hw's own models."""
    import json

    from jsc_hw.data import Scaler, held_out_split

    spec = DataSpec(path=str(synthetic_npz))
    fitted, note = held_out_split(spec)
    splits = load_splits(spec)
    assert np.array_equal(fitted.x, splits.test.x) and "training split" in note
    raw = splits.test.x * np.asarray(splits.scaler.std) + np.asarray(splits.scaler.mean)
    mine = Scaler(tuple(np.full(16, 1.0)), tuple(np.full(16, 2.0)))
    (tmp_path / "s.json").write_text(json.dumps({"mean": list(mine.mean), "std": list(mine.std)}))
    np.savez(tmp_path / "s.npz", mean=np.array(mine.mean), std=np.array(mine.std))
    for f in ("s.json", "s.npz"):
        split, note = held_out_split(spec, Scaler.load(tmp_path / f))
        assert np.allclose(split.x, (raw - 1.0) / 2.0, atol=1e-5) and note.endswith("the given scaler")
        assert np.array_equal(split.y, splits.test.y)
    (tmp_path / "bad.json").write_text(json.dumps({"mean": [0.0] * 16}))
    with pytest.raises(ValueError, match="needs 'mean' and 'std'"):
        Scaler.load(tmp_path / "bad.json")
