"""The errors jsc-hw raises for problems a user can fix: one family, each with its CLI exit status.

Every message is one line that names the file, key or option and says what to do; the CLI prints it without a
traceback (``jsc-hw -v`` adds the traceback) and exits with ``exit_code``.  Each class also derives from the
builtin it refines (``ConfigError`` is a ``ValueError``...), so ``except ValueError`` in a caller keeps working.
"""

from __future__ import annotations


class JscHwError(Exception):
    """Base class: a problem the user can fix, explained in one line."""

    exit_code = 2


class ConfigError(JscHwError, ValueError):
    """A spec, a config value or a command-line option is invalid."""


class DataError(JscHwError, ValueError):
    """A data file cannot be used (unreadable, truncated, ambiguous or invalid columns)."""


class MissingError(JscHwError, FileNotFoundError):
    """A file, folder or external tool is not there."""


class RunFolderError(JscHwError, ValueError):
    """A run folder, record, checkpoint or synth.json is inconsistent or unreadable."""


class UnsupportedModel(JscHwError, ValueError):
    """A model or graph uses something the bit-exact export or RTL flow cannot reproduce; the line says what to
    change."""


class ToolError(JscHwError, RuntimeError):
    """An external tool (Yosys, nextpnr, Verilator, a vendor tool) failed; its log is named in the message."""

    exit_code = 1


class TrainingError(JscHwError, RuntimeError):
    """Training of one or more trials failed; no record was written for them."""

    exit_code = 1


class NotBitExact(JscHwError):
    """A verdict failed: the hardware model does not reproduce PyTorch bit for bit (exit 3, as ``jsc-hw export``)."""

    exit_code = 3


def one_line(exc: BaseException) -> str:
    """How a failure inside a worker is reported: a jsc-hw error's own line, else the type and message."""
    return str(exc) if isinstance(exc, JscHwError) else f"{type(exc).__name__}: {exc}"
