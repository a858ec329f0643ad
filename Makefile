# Two commands do everything on a fresh machine:
#   make demo   set up .venv, evaluate the shipped walker-stand checkpoints, print Table III beside ours
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-setup

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): requirements.txt setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: setup
	$(PY) -m asym_control.demo

test: setup
	$(PY) -m pytest -q test

bench: setup
	$(PY) bench/train_speed.py --steps 3000

clean:
	rm -rf $(VENV) build *.egg-info
