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
