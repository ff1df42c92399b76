# Two commands on a fresh machine: `make demo` (the main job, end to end) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
COMPAT := .venv-ort118
DATA := data/digits3
RUN := runs/demo
MODEL := models/demo.onnx
# A CPU build of torch lies on this machine's disk; an unpinned torch pulls a multi-GB CUDA build.
TORCH := torch==2.13.0
# Time each stage: $(call timed,name,command)
timed = @start=$$(date +%s); $(2); echo "[$(1) took $$(( $$(date +%s) - start )) s]"

.PHONY: demo test venv compat clean

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The oldest onnxruntime the model files promise to load on, in its own environment.
compat: $(COMPAT)/.installed
$(COMPAT)/.installed: pyproject.toml
	test -x $(COMPAT)/bin/python || $(PYTHON) -m venv $(COMPAT)
	$(COMPAT)/bin/pip install -q onnxruntime==1.18.1 'numpy<2' pillow soundfile soxr tokenizers
	$(COMPAT)/bin/pip install -q --no-deps -e .
	touch $@

demo: venv
	$(call timed,data,$(BIN)/edgefuse data demo --out $(DATA))
	$(call timed,train,$(BIN)/edgefuse train --data $(DATA) --out $(RUN))
	$(call timed,export,$(BIN)/edgefuse export $(RUN) --out $(MODEL))
	$(call timed,evaluate,$(BIN)/edgefuse evaluate $(MODEL) --data $(DATA) --split test)
	$(call timed,predict,$(BIN)/edgefuse predict $(MODEL) --image $(DATA)/images/test/000007.png --audio $(DATA)/audio/test/000007.wav --text "$$(sed -n 8p $(DATA)/test.jsonl | $(BIN)/python -c 'import json,sys; print(json.load(sys.stdin).get("text", ""))')")

test: venv compat
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) $(COMPAT) data runs models
