# Front door of the project. `make help` lists the targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SMOKE_OUT ?= $(CURDIR)/.smoke

.PHONY: help setup lock data notebooks smoke test lint presentation bench lab clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'

# the exact versions that made the committed outputs come from requirements.lock; xraylib
# itself is installed on top without resolving again (--no-deps)
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(STAMP)  ## create .venv and install xraylib with the locked versions (requirements.lock)

lock:  ## re-resolve requirements.lock from pyproject.toml (newest versions; needs network)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	  --custom-compile-command "make lock" --upgrade --quiet -o requirements.lock

data: $(STAMP)  ## download the data set into data/chest_xray unless XRAY_DATA_DIR has it
	@if [ -n "$$XRAY_DATA_DIR" ] || [ -d data/chest_xray/train ]; then \
	  $(BIN)/python -m xraylib scan "$${XRAY_DATA_DIR:-data/chest_xray}"; \
	else $(BIN)/python -m xraylib download; fi

notebooks: data  ## execute the notebook series in place on the real data (full profile)
	XRAY_PROFILE=full $(BIN)/python -m xraylib notebooks

lint: $(STAMP)  ## ruff lint and format check, mypy
	$(BIN)/ruff check xraylib tests notebooks
	$(BIN)/ruff format --check xraylib tests
	$(BIN)/mypy xraylib

# the phantom set is made once (new files would mean new cache keys, filling data/cache)
smoke: $(STAMP)  ## re-execute every notebook under the smoke profile with nbval (outputs go to .smoke/)
	@if [ -z "$$XRAY_DATA_DIR" ]; then \
	  if [ ! -d $(SMOKE_OUT)/phantoms ]; then \
	    rm -rf $(SMOKE_OUT)/phantoms.part && \
	    $(BIN)/python -m xraylib synthetic $(SMOKE_OUT)/phantoms.part --per-class 40 >/dev/null && \
	    mv $(SMOKE_OUT)/phantoms.part $(SMOKE_OUT)/phantoms || exit 1; fi; \
	  export XRAY_DATA_DIR=$(SMOKE_OUT)/phantoms; fi; \
	XRAY_PROFILE=smoke XRAY_OUTPUT_DIR=$(SMOKE_OUT) \
	  $(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider notebooks/

test: $(STAMP)  ## the test command: lint, unit tests, then the notebooks under smoke
	$(MAKE) lint
	$(BIN)/python -m pytest
	$(MAKE) smoke

presentation: $(STAMP)  ## rebuild presentation.pdf from results and figures
	$(BIN)/python -m xraylib presentation

bench: $(STAMP)  ## input-pipeline and prediction throughput table
	$(BIN)/python -m xraylib bench

lab: $(STAMP)  ## register the xraylib kernel and open JupyterLab at notebooks/
	$(BIN)/python -m ipykernel install --user --name xraylib --display-name "Python (xraylib)"
	$(BIN)/jupyter lab --notebook-dir=notebooks

clean:  ## remove caches and smoke outputs (keeps the data and .venv)
	rm -rf data/cache $(SMOKE_OUT) .pytest_cache .ruff_cache .mypy_cache
