# Newcomer entry points (README): `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv clean-demo

venv: $(STAMP)

# torch first, pinned to the local CPU build (a bare `torch` requirement would pull a CUDA build).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	# braindecode (LaBraM export check): without its torchaudio requirement, which has no wheel
	# for this torch; its Labram model needs only these light packages
	$(BIN)/python -m pip install -q --no-deps braindecode==1.8.1
	$(BIN)/python -m pip install -q einops docstring_inheritance torchinfo pydantic
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/streamdistill demo --workspace demo-workspace

test: $(STAMP)
	$(BIN)/python -m pytest -q -ra

clean-demo:
	rm -rf demo-workspace
