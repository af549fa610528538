"""jsc-hw: accuracy and FPGA cost of quantised jet-substructure classifiers, with one command."""

from jsc_hw.config import DataSpec, ModelSpec, QuantSpec, SweepSpec, TrainSpec, TrialConfig, load_sweep
from jsc_hw.nets import ARCHITECTURES, BatchedNet

__all__ = ["ARCHITECTURES", "BatchedNet", "DataSpec", "ModelSpec", "QuantSpec", "SweepSpec", "TrainSpec",
           "TrialConfig", "load_sweep"]
__version__ = "0.1.0"
