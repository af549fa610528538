"""jsc-hw: accuracy and FPGA cost of quantised jet-substructure classifiers, with one command."""

from jsc_hw.config import DataSpec, ModelSpec, QuantSpec, SweepSpec, TrainSpec, TrialConfig, load_sweep
from jsc_hw.export import export_fpga
from jsc_hw.fixed import FixedFormat
from jsc_hw.nets import ARCHITECTURES, BatchedNet

__all__ = ["ARCHITECTURES", "BatchedNet", "DataSpec", "FixedFormat", "ModelSpec", "QuantSpec", "SweepSpec",
           "TrainSpec", "TrialConfig", "export_fpga", "load_sweep"]
__version__ = "0.1.0"
