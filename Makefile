# Both targets set themselves up: a fresh clone needs only `make train` or `make test`.
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test bench clean

$(PYTHON):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

train: $(STAMP)
	$(VENV)/bin/memorax train

test: $(STAMP)
	$(PYTHON) -m pytest -q -n 2 --dist loadfile

bench: $(STAMP)
	$(PYTHON) bench/sequence_models.py
	$(PYTHON) bench/environments.py
	$(PYTHON) bench/ppo.py
	$(PYTHON) bench/ppo.py --algorithm pqn
	$(PYTHON) bench/off_policy.py

clean:
	rm -rf $(VENV)
