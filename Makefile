# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make table2   — create .venv with the pinned dependencies, then run `snakemake --cores 8 table2`
#   make test     — create .venv (same), then run the test suite (what .ci/run calls)
# Any other workflow target:  make run TARGET=csalr   (or activate .venv and call snakemake yourself)

PYTHON ?= python3.11
VENV ?= .venv
CORES ?= 8
TARGET ?= all
STAMP := $(VENV)/.dmlrepro-installed

.PHONY: setup table2 test run clean-results

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or pass PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

setup: $(STAMP)

table2: $(STAMP)
	. $(VENV)/bin/activate && snakemake --cores $(CORES) table2

run: $(STAMP)
	. $(VENV)/bin/activate && snakemake --cores $(CORES) $(TARGET)

test: $(STAMP)
	. $(VENV)/bin/activate && python -m pytest

clean-results:
	rm -rf results/cells results/checkpoints results/logs results/datasets results/resources \
	       results/csalr results/csa results/aianet results/mhdml results/dces data/synthetic data/synthetic-* .snakemake
