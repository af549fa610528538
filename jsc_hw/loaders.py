"""Readers for JSC data files.  Every reader returns :class:`jsc_hw.schema.Jets` in canonical order.

Formats (``READERS`` keys; the suffix picks one unless ``fmt`` is given):

* ``npz``     -- jsc-hw generator output (``features`` + ``names`` + ``label``), a folder of those, or an npz
  with one array per named column (16 features + ``class``/``label``/one-hot ``j_g``..``j_t``);
* ``csv``, ``parquet`` -- named columns, e.g. a CSV/Parquet export of OpenML ``hls4ml_lhc_jets_hlf``;
* ``arff``    -- the OpenML ARFF file (``@attribute`` header, ``class`` nominal g,q,t,w,z);
* ``cernbox`` -- the CERNBox ``.z`` HDF5 with a structured ``t_allpar_new`` array and one-hot ``j_g``..``j_t``;
* ``zenodo``  -- Zenodo jetImage ``.h5``: ``jets`` (N, 59) named by ``jetFeatureNames``, one-hot label columns.

Labels: class names (any order, e.g. OpenML's g,q,t,w,z), one-hot ``j_g j_q j_w j_z j_t`` columns, or integer
``label`` already in the canonical g,q,w,z,t order.  Non-finite feature values are an error unless
``drop_invalid=True`` (then the rows are dropped and counted in a warning).  Two columns naming one feature
(``j_zlogz`` and ``zlogz``) are refused.  Every problem with a file raises ``DataError`` naming it.
"""

from __future__ import annotations

import json
import logging
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path

import numpy as np

from jsc_hw import native
from jsc_hw.errors import DataError, MissingError
from jsc_hw.files import atomic_write
from jsc_hw.schema import CLASSES, FEATURES, Jets, feature_name, label_index

log = logging.getLogger(__name__)
ONE_HOT = tuple(f"j_{c}" for c in CLASSES)
OPENML_ID = 42468
EMBEDDED = "jsc_default.npz"


def _canon(name: str) -> str | None:
    try:
        return feature_name(name)
    except DataError:
        return None


def _labels(cols: Mapping[str, np.ndarray], path: Path) -> np.ndarray:
    lower = {k.strip().lower(): k for k in cols}
    if "class" in lower:
        names = np.char.lower(np.char.strip(np.asarray(cols[lower["class"]]).astype(str)))
        unknown = ~np.isin(names, CLASSES)
        if unknown.any():
            raise DataError(f"{path}: {int(unknown.sum())} rows have unknown class labels "
                            f"{sorted(set(names[unknown].tolist()))[:5]}; expected one of {CLASSES}")
        return label_index(names)
    if all(h in lower for h in ONE_HOT):
        hot = np.stack([np.asarray(cols[lower[h]], dtype=np.float64) for h in ONE_HOT], 1)
        bad = np.flatnonzero(hot.sum(1) != 1) if hot.size else np.array([], int)
        if bad.size:
            raise DataError(f"{path}: {bad.size} rows have no single one-hot label among {ONE_HOT} "
                            f"(first bad row {bad[0]}); these are unknown labels")
        return hot.argmax(1)
    if "label" in lower:
        y = np.asarray(cols[lower["label"]])
        if y.dtype.kind not in "iu" and not (y.dtype.kind == "f" and np.all(y == np.round(y))):
            raise DataError(f"{path}: column 'label' must hold integer class indices 0..4 (g,q,w,z,t)")
        y = y.astype(np.int64)
        if y.size and (y.min() < 0 or y.max() >= len(CLASSES)):
            raise DataError(f"{path}: unknown labels: 'label' must lie in 0..4 (g,q,w,z,t), found "
                            f"{sorted(set(np.unique(y)) - set(range(len(CLASSES))))[:5]}")
        return y
    raise DataError(f"{path}: no label column: expected 'class' (g,q,w,z,t), one-hot {ONE_HOT} or 'label'")


def to_jets(cols: Mapping[str, np.ndarray], path: Path, drop_invalid: bool = False) -> Jets:
    """Validate named columns (any case, with or without ``j_``) and build canonical :class:`Jets`."""
    by_canon: dict[str, str] = {}
    for k in cols:
        if (c := _canon(k)) is not None:
            if c in by_canon:
                raise DataError(f"{path}: columns {by_canon[c]!r} and {k!r} both name feature {c}; keep one of them")
            by_canon[c] = k
    missing = [f for f in FEATURES if f not in by_canon]
    if missing:
        raise DataError(f"{path}: missing feature columns {missing}")
    n = len(np.asarray(cols[by_canon[FEATURES[0]]]))
    if n == 0:
        raise DataError(f"{path}: the file holds no rows")
    x = np.empty((n, len(FEATURES)), dtype=np.float64)
    for j, f in enumerate(FEATURES):
        col = np.asarray(cols[by_canon[f]])
        if col.shape != (n,):
            raise DataError(f"{path}: column {by_canon[f]!r} has shape {col.shape}, expected ({n},)")
        try:
            x[:, j] = col.astype(np.float64)
        except (ValueError, TypeError):
            raise DataError(f"{path}: column {by_canon[f]!r} is not numeric (dtype {col.dtype})") from None
    y = _labels(cols, path)
    if y.shape != (n,):
        raise DataError(f"{path}: {n} feature rows but {y.shape[0]} labels")
    bad = ~np.isfinite(x)
    if bad.any():
        counts = {f: int(c) for f, c in zip(FEATURES, bad.sum(0)) if c}
        rows = int(bad.any(1).sum())
        if not drop_invalid:
            raise DataError(f"{path}: {rows} rows hold NaN/inf values {counts}; to drop them set data.drop_invalid: "
                            "true in the spec (or --set data.drop_invalid=true; `jsc-hw data info --drop-invalid`)")
        log.warning("%s: dropping %d rows with NaN/inf values %s", path, rows, counts)
        keep = ~bad.any(1)
        x, y = x[keep], y[keep]
    return Jets(x, y, source=str(path))


def read_npz(path: Path, drop_invalid: bool = False) -> Jets:
    """Generator output (``features`` + ``names`` + ``label``), a folder of those, or one array per column."""
    files = sorted(path.glob("*.npz")) if path.is_dir() else [path]
    if not files:
        raise MissingError(f"{path}: no .npz files in this folder")
    parts = []
    for f in files:
        try:
            with np.load(f, allow_pickle=False) as d:
                if {"features", "names"} <= set(d.files):
                    x, names = d["features"], [str(n) for n in d["names"]]
                    if x.ndim != 2 or x.shape[1] != len(names):
                        raise DataError(f"{f}: 'features' has shape {x.shape}, expected (N, {len(names)}) "
                                        "to match 'names'")
                    cols = {n: x[:, i] for i, n in enumerate(names)}
                    cols.update({k: d[k] for k in ("label", "class") if k in d.files})
                else:
                    cols = {k: d[k] for k in d.files}
        except DataError:
            raise
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as exc:
            raise DataError(f"{f}: not a readable .npz file, truncated or corrupt? ({type(exc).__name__}: "
                            f"{str(exc)[:200]})") from None
        parts.append(to_jets(cols, f, drop_invalid))
    x = np.concatenate([p.x for p in parts])
    return Jets(x, np.concatenate([p.y for p in parts]), source=str(path))


def read_csv(path: Path, drop_invalid: bool = False) -> Jets:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV file ({str(exc).splitlines()[0][:200]})") from None
    return to_jets({str(c): frame[c].to_numpy() for c in frame.columns}, path, drop_invalid)


def read_parquet(path: Path, drop_invalid: bool = False) -> Jets:
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return to_jets({n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}, path,
                   drop_invalid)


def read_arff(path: Path, drop_invalid: bool = False) -> Jets:
    """OpenML ARFF: ``@attribute name type`` lines, then ``@data`` with comma-separated rows."""
    import pandas as pd

    names: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            s = line.strip()
            if s.lower().startswith("@attribute"):
                names.append(s.split(None, 2)[1].strip("'\""))
            elif s.lower().startswith("@data"):
                break
        else:
            raise DataError(f"{path}: no @data section: not an ARFF file")
        frame = pd.read_csv(fh, header=None, names=names, comment="%", quotechar="'", skipinitialspace=True)
    return to_jets({c: frame[c].to_numpy() for c in frame.columns}, path, drop_invalid)


def _h5(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path}: not an HDF5 file ({exc})") from None


def read_cernbox(path: Path, drop_invalid: bool = False) -> Jets:
    """CERNBox ``processed-pythia82-lhc13-all-pt1-50k-r1_h022_e0175_t220_nonu_truth.z`` (HDF5 despite .z)."""
    with _h5(path) as f:
        if "t_allpar_new" not in f:
            raise DataError(f"{path}: no 't_allpar_new' dataset (found {sorted(f)}): not a CERNBox .z file")
        arr = f["t_allpar_new"][()]
    if arr.dtype.names is None:
        raise DataError(f"{path}: 't_allpar_new' is not a structured array with named fields")
    return to_jets({n: arr[n] for n in arr.dtype.names}, path, drop_invalid)


def read_zenodo(path: Path, drop_invalid: bool = False) -> Jets:
    """Zenodo jetImage h5: ``jets`` (N, 59) whose columns are named by ``jetFeatureNames``."""
    with _h5(path) as f:
        if "jets" not in f or "jetFeatureNames" not in f:
            raise DataError(f"{path}: expected datasets 'jets' and 'jetFeatureNames' (found {sorted(f)})")
        jets = f["jets"][()]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["jetFeatureNames"][()]]
    if jets.ndim != 2 or jets.shape[1] != len(names):
        raise DataError(f"{path}: 'jets' has shape {jets.shape}, expected (N, {len(names)}) as 'jetFeatureNames'")
    return to_jets({n: jets[:, i] for i, n in enumerate(names)}, path, drop_invalid)


def read_h5(path: Path, drop_invalid: bool = False) -> Jets:
    """Any ``.h5``/``.z``: CERNBox if it holds ``t_allpar_new``, Zenodo if it holds ``jets``."""
    with _h5(path) as f:
        keys = set(f)
    if "t_allpar_new" in keys:
        return read_cernbox(path, drop_invalid)
    if "jets" in keys:
        return read_zenodo(path, drop_invalid)
    raise DataError(f"{path}: HDF5 without 't_allpar_new' (CERNBox) or 'jets' (Zenodo): found {sorted(keys)}")


READERS: dict[str, Callable[[Path, bool], Jets]] = {
    "npz": read_npz, "csv": read_csv, "parquet": read_parquet, "arff": read_arff,
    "cernbox": read_cernbox, "zenodo": read_zenodo, "h5": read_h5,
}
SUFFIXES: dict[str, str] = {"npz": "npz", "csv": "csv", "parquet": "parquet", "pq": "parquet", "arff": "arff",
                            "z": "h5", "h5": "h5", "hdf5": "h5"}


def read_jets(path: str | Path, fmt: str | None = None, *, drop_invalid: bool = False) -> Jets:
    """Read a JSC file or folder; ``fmt`` (a ``READERS`` key) overrides the guess from the suffix."""
    path = Path(path)
    if not path.exists():
        raise MissingError(f"{path}: no such file or folder")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    key = fmt or ("npz" if path.is_dir() else SUFFIXES.get(path.suffix.lstrip(".").lower(), ""))
    if key not in READERS:
        raise DataError(f"{path}: unknown data format {key or path.suffix!r}; pass --format, one of {sorted(READERS)}")
    return READERS[key](path, drop_invalid)


def default_jets() -> Jets:
    """The embedded generated dataset shipped in ``jsc_hw/embedded`` (see its DATA_CARD.md)."""
    ref = resources.files("jsc_hw.embedded").joinpath(EMBEDDED)
    with resources.as_file(ref) as p:
        if not p.exists():
            raise MissingError(f"{p}: the embedded dataset is missing from this installation")
        jets = read_npz(p)
    return Jets(jets.x, jets.y, source="embedded:" + EMBEDDED)


def embedded_card() -> dict:
    """Generation metadata stored with the embedded dataset (settings, versions, seed, command, counts)."""
    with resources.as_file(resources.files("jsc_hw.embedded").joinpath(EMBEDDED)) as p, np.load(p) as d:
        return json.loads(str(d["meta"]))


def fetch_openml(cache: Path | None = None, timeout_s: float = 60.0) -> Path:
    """Download OpenML 42468 (hls4ml_lhc_jets_hlf) as ARFF into the user cache once; return the cached file."""
    cache = cache or native.cache_dir() / "openml"
    target = cache / f"openml_{OPENML_ID}.arff"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(f"https://api.openml.org/api/v1/json/data/{OPENML_ID}", timeout=timeout_s) as r:
            file_id = json.load(r)["data_set_description"]["file_id"]
        with urllib.request.urlopen(f"https://api.openml.org/data/v1/download/{file_id}", timeout=timeout_s) as r:
            blob = r.read()
    except OSError as exc:
        raise MissingError(f"cannot reach openml.org ({exc}); download hls4ml_lhc_jets_hlf elsewhere and "
                           f"pass the ARFF/CSV/Parquet file, or place it at {target}") from None
    return atomic_write(target, blob)
