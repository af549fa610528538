# jsc-hw: `make demo` (main job on the embedded dataset) and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: setup demo test test-all lint study bench clean

setup: $(STAMP)

# torch first, pinned: a looser requirement would pull a multi-GB CUDA build; pyproject keeps torch>=2.3.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q --prefer-binary -e '.[export,data,ray,search,synth,alkaid,test]'
	command -v verilator >/dev/null || (apt-get update -q && apt-get install -y -q verilator) || echo 'install verilator (Debian package) for the RTL tests'
	touch $@

# the reduced study: training, export + C-sim, Verilator, Yosys (JSC-Tiny only: JSC_rs1923 takes Yosys ~an hour)
demo: setup
	$(BIN)/jsc-hw study sweeps/demo.yaml --out runs/demo --synth-max-params 1000

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check jsc_hw tests benchmarks docs

test-all: setup
	$(BIN)/python -m pytest -q -m ''

study: setup
	$(BIN)/jsc-hw sweep sweeps/jsc_tiny_hyperparameters.yaml --out runs/jsc_tiny_hyperparameters

clean:
	rm -rf runs .pytest_cache
