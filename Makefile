# Set-up and everyday commands. Each target builds .venv from
# requirements.txt on first use (and again when requirements.txt changes).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# Tests run in 2 processes (the 2 cores of the reference machine), one file
# per process at a time so that module fixtures are built once.
PYTEST_ARGS ?= -n 2 --dist loadfile --durations=30

DEMO_WORKDIR ?= runs/fashion_mnist_demo

.PHONY: demo test system-deps

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# Debian's Fashion-MNIST files: the offline source of the default dataset.
system-deps:
	@if dpkg -s dataset-fashion-mnist >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && \
	    $$SUDO apt-get install -y -q dataset-fashion-mnist >/dev/null; }; \
	else echo "apt-get not found: Fashion-MNIST will be downloaded by TFDS"; fi

test: $(VENV)/.installed system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# Trains configs/fashion_mnist.flags into $(DEMO_WORKDIR) (about 7 minutes on
# a 2-core AVX-512 CPU, 20 on one without): test bits/dim, sample grids.
demo: $(VENV)/.installed system-deps
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) train.py --flagfile=fashion_mnist.flags \
	  --workdir=$(DEMO_WORKDIR) $(ARGS)

# Next steps on the demo's workdir, one after the other (or all: demo-next):
# the paper's figures; anomaly scores calibrated on held-out test images;
# a SavedModel for TF Serving (with the anomaly signature); requests to it
# through export/local_server.py, TF Serving's REST API in this process.
# ARGS adds flags to the command of demo, figures, calibrate and export.
.PHONY: figures calibrate export try-serving demo-next
figures: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m tf_realnvp.figures --workdir=$(DEMO_WORKDIR) \
	  $(ARGS)
calibrate: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) -m tf_realnvp.anomaly calibrate \
	  --workdir=$(DEMO_WORKDIR) $(ARGS)
export: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 $(PY) export/export_saved_model.py \
	  --workdir=$(DEMO_WORKDIR) --export_dir=$(DEMO_WORKDIR)/export $(ARGS)
try-serving: $(VENV)/.installed
	TF_CPP_MIN_LOG_LEVEL=2 bash export/try_serving.sh $(DEMO_WORKDIR) $(PY)
demo-next: figures calibrate export try-serving

# Benchmarks (each prints a table; ARGS=--json prints JSON).
.PHONY: bench-train bench-memory bench-export bench-likelihood bench-glow bench-steps bench-budget \
	bench-multi-worker bench-anomaly bench-peer
bench-train: $(VENV)/.installed
	$(PY) bench/train_bench.py $(ARGS)
# PyTorch and chrischute/real-nvp go into bench/.peer (its own venv), never
# into this repository (PEER_REPO=<url or local clone> to clone from elsewhere).
bench-peer: $(VENV)/.installed
	bash bench/peer_setup.sh
	$(PY) bench/peer_bench.py $(ARGS)
bench-memory: $(VENV)/.installed
	$(PY) bench/memory_bench.py $(ARGS)
bench-export: $(VENV)/.installed
	$(PY) bench/export_bench.py $(ARGS)
# Served bits/dim of the demo's model against the bound and 256 draws.
bench-likelihood: $(VENV)/.installed system-deps
	$(PY) bench/likelihood_bench.py --workdir=$(DEMO_WORKDIR) $(ARGS)
bench-glow: $(VENV)/.installed system-deps
	$(PY) bench/quality_bench.py --models=real_nvp,glow --minutes=5 $(ARGS)
# The paper's step against Glow's at 8 and 20 minutes (docs/quality.md).
bench-steps: $(VENV)/.installed system-deps
	$(PY) bench/quality_bench.py --models=real_nvp --minutes=8 \
	  --variants=baseline,glow_step --seeds=0,1 $(ARGS)
	$(PY) bench/quality_bench.py --models=real_nvp --minutes=20 \
	  --variants=baseline,glow_step $(ARGS)
bench-budget: $(VENV)/.installed system-deps
	$(PY) bench/quality_bench.py --models=real_nvp --minutes=20 $(ARGS)
bench-multi-worker: $(VENV)/.installed system-deps
	$(PY) bench/multi_worker_bench.py $(ARGS)
# ARGS=--table=digits|corruptions|one_class (trains the models it needs).
bench-anomaly: $(VENV)/.installed system-deps
	$(PY) bench/anomaly_bench.py $(ARGS)
