"""The hardware stage: what a trained network costs on an FPGA, and the proof that the hardware computes it.

In pipeline order:

* ``cost``: analytic cost (BOPs, MACs, parameters, weight bits) put beside every accuracy of a sweep;
* ``rtl``: the integer network lowered from a Brevitas twin (``qonnx_rtl``: from a QONNX graph brought from
  elsewhere);
* ``verilog``: its fully parallel, pipelined Verilog (``alkaid_rtl``: the same network written by alkaid, whose
  adder graphs share a layer's constant multiplications); ``verilator``: that Verilog simulated bit for bit
  against the reference;
* ``lut_model``: the Yosys LUT count predicted from the logic that Verilog instantiates (calibrated on earlier
  Yosys runs; the search's fast cost);
* ``synth``: Yosys synthesis and nextpnr place-and-route of bit-exact RTL; ``vendor``: Vivado/Vitis reports of
  an hls4ml project, when a user has them;
* ``report``: accuracy beside cost, the table and the Pareto plot.

Nothing is imported here, so ``import jsc_hw.hardware.cost`` does not pull in the rest.
"""
