"""``jsc-hw data info``: counts, ranges, class means and the histogram figure."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

pd = pytest.importorskip("pandas", reason="CSV data files need the data extra: pip install 'jsc-hw[data]'")

from jsc_hw.cli import data as cli_data  # noqa: E402
from jsc_hw.datainfo import format_info, plot_histograms, summarize  # noqa: E402
from jsc_hw.schema import FEATURES, Jets  # noqa: E402


def _jets() -> Jets:
    x = np.tile(np.arange(16, dtype=np.float32), (6, 1))
    x[:, 14] = [80.0, 90.0, 170.0, 10.0, 20.0, 82.0]  # j_mass_mmdt
    return Jets(x, np.array([2, 3, 4, 0, 1, 2]), source="toy")


def test_summarize_counts_ranges_and_means():
    info = summarize(_jets())
    assert info.counts == {"g": 1, "q": 1, "w": 2, "z": 1, "t": 1}
    assert info.minimum[14] == 10.0 and info.maximum[14] == 170.0 and info.maximum[15] == 15.0
    assert info.class_mean[2, 14] == pytest.approx(81.0) and info.class_mean[4, 14] == pytest.approx(170.0)
    text = format_info(info)
    assert "toy: 6 jets" in text and "w 2 (33.3%)" in text
    assert text.splitlines()[4].split()[:3] == ["j_zlogz", "0", "0"]


def test_absent_class_and_empty_data():
    info = summarize(Jets(np.zeros((2, 16)), np.array([0, 0]), source="only-g"))
    assert info.counts["t"] == 0 and np.isnan(info.class_mean[4]).all()
    with pytest.raises(ValueError, match="empty: no rows"):
        summarize(Jets(np.zeros((0, 16)), np.zeros(0, int), source="empty"))


def test_histogram_png(tmp_path):
    png = plot_histograms(_jets(), tmp_path / "h.png", other=_jets())
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_cli_info_on_a_csv(tmp_path, capsys):
    frame = pd.DataFrame(_jets().x, columns=[f[2:] for f in FEATURES])
    frame["class"] = ["w", "z", "t", "g", "q", "w"]
    frame.to_csv(tmp_path / "real.csv", index=False)
    parser = argparse.ArgumentParser()
    cli_data.add_arguments(parser)
    args = parser.parse_args(["info", str(tmp_path / "real.csv"), "--png", str(tmp_path / "real.png")])
    assert cli_data.run(args) == 0
    out = capsys.readouterr().out
    assert "real.csv: 6 jets" in out and "class counts: g 1 (16.7%), q 1 (16.7%), w 2 (33.3%)" in out
    assert (tmp_path / "real.png").stat().st_size > 10_000
