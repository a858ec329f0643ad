# Two commands do everything on a fresh machine:
#   make demo   set up .venv, evaluate the shipped walker-stand checkpoints, print Table III beside ours
#   make test   set up .venv and run the test suite
PYTHON ?= python3
# ROS 2's pure-Python tools (ros2 launch, the ros2 CLI, launch_testing, colcon) for the tests;
# the package itself never needs them
KIT ?= ../shared/ros2-cli-kit
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.stamp-setup

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): requirements.txt setup.py scripts/ament_register.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) scripts/ament_register.py
	touch $(STAMP)

demo: setup
	$(PY) -m asym_control.demo

test: setup
	@if [ -f $(KIT)/install.sh ]; then bash $(KIT)/install.sh $(VENV); \
	else echo "no ros2-cli-kit at $(KIT): the colcon / ros2 launch tests skip unless a ROS 2 distribution provides them"; fi
	$(PY) -m pytest -q test

bench: setup
	$(PY) bench/train_speed.py --steps 3000

clean:
	rm -rf $(VENV) build *.egg-info
