"""Every reader on small files written in exactly the layout of its release, and every input error."""

from __future__ import annotations

import json

import numpy as np
import pytest

WHY = "the data extra reads these formats: pip install 'jsc-hw[data]'"
h5py = pytest.importorskip("h5py", reason=WHY)
pd = pytest.importorskip("pandas", reason=WHY)
pa = pytest.importorskip("pyarrow", reason=WHY)
pq = pytest.importorskip("pyarrow.parquet", reason=WHY)

from jsc_hw import loaders  # noqa: E402
from jsc_hw.loaders import read_jets  # noqa: E402
from jsc_hw.schema import CLASSES, FEATURES  # noqa: E402

# first five rows of OpenML 42468 (hls4ml-tutorial part1 output): 16 features in OpenML order + class
OPENML_NAMES = [f[2:] for f in FEATURES]
REAL_ROWS = np.array([
    [-2.935125, 0.383155, 0.005126, 0.000084, 0.009070, 0.000179, 1.769445, 2.123898, 1.769445, 0.308185,
     0.135687, 0.083278, 0.412136, 0.299058, 8.926882, 75.0],
    [-1.927335, 0.270699, 0.001585, 0.000011, 0.003232, 0.000029, 2.038834, 2.563099, 2.038834, 0.211886,
     0.063729, 0.036310, 0.310217, 0.226661, 3.886512, 31.0],
    [-3.112147, 0.458171, 0.097914, 0.028588, 0.124278, 0.038487, 1.269254, 1.346238, 1.269254, 0.246488,
     0.115636, 0.079094, 0.357559, 0.289220, 162.144669, 61.0],
    [-2.666515, 0.437068, 0.049122, 0.007978, 0.047477, 0.004802, 0.966505, 0.601864, 0.966505, 0.160756,
     0.082196, 0.033311, 0.238871, 0.094516, 91.258934, 39.0],
    [-2.484843, 0.428981, 0.041786, 0.006110, 0.023066, 0.001123, 0.552002, 0.183821, 0.552002, 0.084338,
     0.048006, 0.014450, 0.141906, 0.036665, 79.725777, 35.0],
])
REAL_CLASSES = ["g", "w", "t", "z", "w"]
REAL_Y = [0, 2, 4, 3, 2]  # canonical g,q,w,z,t


def _frame() -> pd.DataFrame:
    frame = pd.DataFrame(REAL_ROWS, columns=OPENML_NAMES)
    frame["class"] = REAL_CLASSES
    return frame


def _check_real(jets) -> None:
    assert jets.x.shape == (5, 16) and jets.x.dtype == np.float32
    np.testing.assert_allclose(jets.x, REAL_ROWS, rtol=1e-6)
    assert jets.y.tolist() == REAL_Y


def test_openml_csv(tmp_path):
    path = tmp_path / "hls4ml_lhc_jets_hlf.csv"
    _frame().to_csv(path, index=False)
    _check_real(read_jets(path))


def test_openml_parquet(tmp_path):
    path = tmp_path / "hls4ml_lhc_jets_hlf.parquet"
    pq.write_table(pa.Table.from_pandas(_frame()), path)
    _check_real(read_jets(path))


def test_openml_arff(tmp_path):
    header = ["% OpenML 42468", "@RELATION hls4ml_lhc_jets_hlf", ""]
    header += [f"@ATTRIBUTE {n} NUMERIC" for n in OPENML_NAMES] + ["@ATTRIBUTE class {g,q,t,w,z}", "", "@DATA"]
    rows = [",".join(f"{v:.6f}" for v in r) + f",{c}" for r, c in zip(REAL_ROWS, REAL_CLASSES)]
    path = tmp_path / "phpZ.arff"
    path.write_text("\n".join(header + rows) + "\n")
    _check_real(read_jets(path))


def test_openml_cached_fetch_needs_no_network(tmp_path):
    cached = tmp_path / f"openml_{loaders.OPENML_ID}.arff"
    cached.write_text("@DATA\n")
    assert loaders.fetch_openml(cache=tmp_path) == cached


def _onehot(y: list[int]) -> np.ndarray:
    return np.eye(5, dtype=np.int32)[y]


def test_cernbox_z(tmp_path):
    extra = ["j_ptfrac", "j_pt", "j_eta", "j_mass", "j_tau1_b1", "j_mass_trim", "j_mass_sdb2"]
    fields = [(n, "<f4") for n in extra + list(FEATURES)] + [(f"j_{c}", "<i4") for c in CLASSES]
    fields += [("j_undef", "<i4"), ("j_index", "<i8")]
    arr = np.zeros(5, dtype=fields)
    for j, f in enumerate(FEATURES):
        arr[f] = REAL_ROWS[:, j]
    arr["j_pt"] = 1000.0
    for k, c in enumerate(CLASSES):
        arr[f"j_{c}"] = _onehot(REAL_Y)[:, k]
    path = tmp_path / "processed-pythia82-lhc13-all-pt1-50k-r1_h022_e0175_t220_nonu_truth.z"
    with h5py.File(path, "w") as f:
        f.create_dataset("t_allpar_new", data=arr, compression="lzf")
    _check_real(read_jets(path))
    _check_real(read_jets(path, "cernbox"))


def test_zenodo_jetimage(tmp_path):
    names = ["j_ptfrac", "j_pt", "j_eta", "j_mass", "j_tau1_b1", "j_tau2_b1", "j_tau3_b1"] + list(FEATURES)
    names += [f"x{i}" for i in range(59 - len(names) - 6)] + [f"j_{c}" for c in CLASSES] + ["j_undef"]
    jets = np.zeros((5, 59), dtype=np.float32)
    for j, f in enumerate(FEATURES):
        jets[:, names.index(f)] = REAL_ROWS[:, j]
    jets[:, -6:-1] = _onehot(REAL_Y)
    path = tmp_path / "jetImage_7_100p_0_10000.h5"
    with h5py.File(path, "w") as f:
        f["jets"] = jets
        f["jetFeatureNames"] = np.array([n.encode() for n in names])
        f["jetImage"] = np.zeros((5, 4, 4))
    _check_real(read_jets(path))
    _check_real(read_jets(path, "zenodo"))


def test_npz_named_columns_and_generator_layout(tmp_path):
    cols = {f: REAL_ROWS[:, j] for j, f in enumerate(FEATURES)} | {"label": np.array(REAL_Y)}
    np.savez(tmp_path / "cols.npz", **cols)
    _check_real(read_jets(tmp_path / "cols.npz"))
    gen = tmp_path / "run"
    gen.mkdir()
    names = ["j_pt"] + list(FEATURES)[::-1]  # any column order
    feats = np.column_stack([np.full(5, 1000.0)] + [REAL_ROWS[:, FEATURES.index(n)] for n in names[1:]])
    np.savez(gen / "a.npz", features=feats, names=np.array(names), label=np.array(REAL_Y, np.int8))
    _check_real(read_jets(gen))  # folder of generator files


def test_explicit_format_overrides_suffix(tmp_path):
    path = tmp_path / "jets.txt"
    _frame().to_csv(path, index=False)
    with pytest.raises(ValueError, match="unknown data format"):
        read_jets(path)
    _check_real(read_jets(path, "csv"))


def test_missing_columns(tmp_path):
    path = tmp_path / "m.csv"
    _frame().drop(columns=["d2_b1_mmdt", "multiplicity"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"m\.csv: missing feature columns \['j_d2_b1_mmdt', 'j_multiplicity'\]"):
        read_jets(path)


def test_missing_labels(tmp_path):
    path = tmp_path / "nolabel.csv"
    _frame().drop(columns=["class"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match="nolabel.csv: no label column"):
        read_jets(path)


def test_wrong_shape(tmp_path):
    path = tmp_path / "shape.npz"
    np.savez(path, features=np.zeros((5, 3)), names=np.array(list(FEATURES)), label=np.zeros(5, int))
    with pytest.raises(ValueError, match=r"shape.npz: 'features' has shape \(5, 3\), expected \(N, 16\)"):
        read_jets(path)
    cols = {f: REAL_ROWS[:, j] for j, f in enumerate(FEATURES)} | {"label": np.zeros(4, int)}
    np.savez(tmp_path / "short.npz", **cols)
    with pytest.raises(ValueError, match="short.npz: 5 feature rows but 4 labels"):
        read_jets(tmp_path / "short.npz")


def test_non_numeric(tmp_path):
    frame = _frame()
    frame["zlogz"] = ["a", "b", "c", "d", "e"]
    frame.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(ValueError, match="text.csv: column 'zlogz' is not numeric"):
        read_jets(tmp_path / "text.csv")


def test_nan_inf_counted_and_dropped_only_on_request(tmp_path):
    frame = _frame()
    frame.loc[1, "n2_b1_mmdt"] = np.nan
    frame.loc[3, "n2_b1_mmdt"] = np.inf
    frame.loc[3, "mass_mmdt"] = np.nan
    path = tmp_path / "nan.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"nan.csv: 2 rows hold NaN/inf values \{'j_n2_b1_mmdt': 2, "
                                         r"'j_mass_mmdt': 1\}; to drop them set data.drop_invalid: true"):
        read_jets(path)
    jets = read_jets(path, drop_invalid=True)
    assert len(jets) == 3 and jets.y.tolist() == [0, 4, 2]
    np.testing.assert_allclose(jets.x, REAL_ROWS[[0, 2, 4]], rtol=1e-6)


def test_empty_files(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="empty.csv: the file is empty"):
        read_jets(tmp_path / "empty.csv")
    _frame().iloc[:0].to_csv(tmp_path / "header.csv", index=False)
    with pytest.raises(ValueError, match="header.csv: the file holds no rows"):
        read_jets(tmp_path / "header.csv")
    (tmp_path / "nothing").mkdir()
    with pytest.raises(FileNotFoundError, match="no .npz files"):
        read_jets(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_jets(tmp_path / "absent.csv")


def test_unknown_labels(tmp_path):
    frame = _frame()
    frame.loc[2, "class"] = "higgs"
    frame.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(ValueError, match=r"labels.csv: 1 rows have unknown class labels \['higgs'\]"):
        read_jets(tmp_path / "labels.csv")
    cols = {f: REAL_ROWS[:, j] for j, f in enumerate(FEATURES)} | {"label": np.array([0, 1, 2, 3, 7])}
    np.savez(tmp_path / "idx.npz", **cols)
    with pytest.raises(ValueError, match=r"idx.npz: unknown labels: 'label' must lie in 0..4"):
        read_jets(tmp_path / "idx.npz")
    hot = _onehot(REAL_Y)
    hot[0] = 0  # j_undef-like row: no class set
    arr = {f: REAL_ROWS[:, j] for j, f in enumerate(FEATURES)} | {f"j_{c}": hot[:, k] for k, c in enumerate(CLASSES)}
    np.savez(tmp_path / "hot.npz", **arr)
    with pytest.raises(ValueError, match="hot.npz: 1 rows have no single one-hot label"):
        read_jets(tmp_path / "hot.npz")


def test_hdf5_without_known_layout(tmp_path):
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["stuff"] = np.zeros(3)
    with pytest.raises(ValueError, match=r"other.h5: HDF5 without 't_allpar_new' \(CERNBox\) or 'jets'"):
        read_jets(tmp_path / "other.h5")
    (tmp_path / "fake.z").write_text("not hdf5")
    with pytest.raises(ValueError, match="fake.z: not an HDF5 file"):
        read_jets(tmp_path / "fake.z")


def test_default_jets_is_the_balanced_embedded_set():
    jets = loaders.default_jets()
    counts = jets.class_counts()
    assert len(jets) >= 830_000 and set(counts.values()) == {len(jets) // 5}
    assert np.all(np.isfinite(jets.x))
    card = loaders.embedded_card()
    assert card["n_jets"] >= 830_000 and card["settings"]["seed"] == 1
    assert json.dumps(card)  # plain JSON


def test_two_columns_naming_one_feature_are_refused(tmp_path):
    """j_zlogz and zlogz in one CSV: which one is the feature? Refused, naming both, instead of the last winning."""
    frame = _frame()
    frame["j_zlogz"] = frame["zlogz"] * 2
    path = tmp_path / "both.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"both.csv: columns 'zlogz' and 'j_zlogz' both name feature j_zlogz"):
        read_jets(path)


def test_truncated_and_random_npz_are_one_line_errors(tmp_path):
    good = tmp_path / "good.npz"
    np.savez_compressed(good, features=REAL_ROWS.astype(np.float32), names=np.array(OPENML_NAMES),
                        label=np.array(REAL_Y))
    blob = good.read_bytes()
    for name, data in [("truncated.npz", blob[: len(blob) // 2]), ("tail_cut.npz", blob[:-30]),
                       ("random.npz", np.random.default_rng(0).bytes(4096))]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=rf"{name}: not a readable .npz file"):
            read_jets(tmp_path / name)
