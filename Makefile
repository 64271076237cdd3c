# Both targets set themselves up: a fresh clone needs only `make train` or `make test`.
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed

.PHONY: train test bench docs docs-serve clean

$(PYTHON):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[test]"
	$(PYTHON) -m pip install --quiet --no-deps popgym-arcade==0.0.7  # see pyproject.toml's envs extra
	touch $(STAMP)

$(DOCS_STAMP): pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

train: $(STAMP)
	$(VENV)/bin/memorax train

# A worker that dies fails the run, naming the test it was running, and is not replaced: a replacement can hang
# xdist's loadfile scheduling forever (pytest-xdist #784, #1327), as it once hung CI until its time ran out.
test: $(STAMP)
	$(PYTHON) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder --max-worker-restart=0

bench: $(STAMP)
	$(PYTHON) bench/sequence_models.py
	$(PYTHON) bench/environments.py
	$(PYTHON) bench/ppo.py
	$(PYTHON) bench/ppo.py --algorithm pqn
	$(PYTHON) bench/off_policy.py

# The site: README, docs/, bench/RESULTS.md and the API reference, into site/; any warning fails the build.
docs: $(DOCS_STAMP)
	$(PYTHON) -m sphinx -W --keep-going -q -c docs -b html . site

docs-serve: docs
	$(PYTHON) -m http.server --directory site 8000

clean:
	rm -rf $(VENV) site
