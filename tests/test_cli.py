"""The command line's own behaviour: `jsc-hw --help` imports no library module (fast, small), each sub-command's
help imports only that command, and errors of the jsc_hw.errors family are one line with their exit status."""

from __future__ import annotations

import subprocess
import sys

import pytest

from jsc_hw.cli import COMMANDS, main

PROBE = """
import contextlib, io, sys
from jsc_hw.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main({argv!r})
    except SystemExit:
        pass
heavy = sorted(m for m in ("torch", "numpy", "brevitas", "matplotlib", "hls4ml", "optuna", "yaml") if m in sys.modules)
print(",".join(heavy) or "-", len(out.getvalue()))
"""


def _probe(argv: list[str]) -> tuple[str, int]:
    res = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=120)
    heavy, chars = res.stdout.split()
    return heavy, int(chars)


def test_top_level_help_imports_no_library():
    heavy, chars = _probe(["--help"])
    assert heavy == "-" and chars > 300  # today's 2.6 s / 376 MB came from importing torch for the help text


@pytest.mark.parametrize("command", ["sweep", "search", "synth", "report"])
def test_sub_command_help_imports_only_what_it_needs(command):
    heavy, chars = _probe([command, "--help"])
    assert "torch" not in heavy and chars > 200


def test_every_command_module_has_the_interface():
    import importlib

    for module, _ in COMMANDS.values():
        mod = importlib.import_module(module)
        assert callable(mod.add_arguments) and callable(mod.run)


def test_a_user_error_is_one_line_with_its_exit_status(tmp_path, caplog, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "missing: give synth.json files" in caplog.text
    assert "Traceback" not in capsys.readouterr().err
