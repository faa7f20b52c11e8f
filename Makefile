# Two commands for a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYBABEL := $(VENV)/bin/pybabel
PORT ?= 8888

.PHONY: run test deps translations extract-messages update-messages clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

deps: $(VENV)/.installed

# Compiled catalogs are build output (.mo files are not committed).
translations: deps
	$(PYBABEL) compile -d translations -D messages

run: deps translations
	PORT=$(PORT) $(PY) server.py --demo

test: deps translations
	$(PY) -m pytest -q tests

# Maintainers: refresh the catalog template and every locale after changing strings.
extract-messages: deps
	$(PYBABEL) extract -F babel.cfg -k N_ -k _ -o translations/messages.pot --no-location --sort-output .

update-messages: extract-messages
	$(PYBABEL) update -i translations/messages.pot -d translations -D messages --no-fuzzy-matching

clean:
	rm -rf $(VENV) .pytest_cache
	find translations -name '*.mo' -delete
