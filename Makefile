# Two commands for a fresh machine: `make run` and `make test` (see README).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PYBABEL := $(VENV)/bin/pybabel
PORT ?= 8888

.PHONY: run test deps translations extract-messages update-messages clean bench bench-registration bench-reminders \
	bench-certificates bench-checkout bench-scale bench-donations

$(VENV)/.installed: requirements.txt requirements-dev.txt bench/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Browser libraries (hls.js, SortableJS, uPlot, jsQR) from the npm registry, verified against the lock
# file; fetched again only when the lock file or the script changes.
static/vendor/.installed: tools/browser_libs.py tools/browser_libs.lock.json
	$(PYTHON) tools/browser_libs.py
	touch $@

deps: $(VENV)/.installed static/vendor/.installed

# Compiled catalogs are build output (.mo files are not committed).
translations: deps
	$(PYBABEL) compile -d translations -D messages

run: deps translations
	PORT=$(PORT) $(PY) server.py --demo

test: deps translations
	$(PY) -m pytest -q tests

# Livehall against Socket.IO (Node), python-socketio and plain Tornado under one load
# (see README, Benchmarks); options: make bench BENCH_ARGS="--connections 2000".
BENCH_ARGS ?=
bench: deps translations
	$(PY) -m pip install --quiet -r bench/requirements.txt
	PYTHON=$(PY) sh bench/peers/setup.sh
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/registration.py $(BENCH_REGISTRATION_ARGS)
	$(PY) bench/reminders.py $(BENCH_REMINDERS_ARGS)
	$(PY) bench/certificates.py $(BENCH_CERTIFICATES_ARGS)
	$(PY) bench/checkout.py $(BENCH_CHECKOUT_ARGS)
	$(PY) bench/donations.py $(BENCH_DONATIONS_ARGS)

# The scaling curve: Livehall, Socket.IO on Node and the floor peer at 1,000, 3,000, 10,000 and
# 30,000 viewers (README, Benchmarks, Scaling); draws docs/scale.svg. About 6 minutes on 2 cores.
# Options: make bench-scale BENCH_SCALE_ARGS="--viewers 1000,3000 --targets livehall,floor".
BENCH_SCALE_ARGS ?=
bench-scale: deps translations
	$(PY) -m pip install --quiet -r bench/requirements.txt
	PYTHON=$(PY) sh bench/peers/setup.sh
	$(PY) bench/scale.py $(BENCH_SCALE_ARGS)

# Registrations per second and one-click latency (README, Benchmarks); it is also the last
# step of `make bench`. Options: make bench-registration BENCH_REGISTRATION_ARGS="--people 500".
BENCH_REGISTRATION_ARGS ?=
bench-registration: deps translations
	$(PY) bench/registration.py $(BENCH_REGISTRATION_ARGS)

# How soon after their due time reminders for 10,000 registrants arrive (README, Benchmarks);
# also a step of `make bench`. Options: make bench-reminders BENCH_REMINDERS_ARGS="--people 2000".
BENCH_REMINDERS_ARGS ?=
bench-reminders: deps translations
	$(PY) bench/reminders.py $(BENCH_REMINDERS_ARGS)

# How long issuing 10,000 certificates takes, PDFs and mails included (README, Benchmarks); also
# a step of `make bench`. Options: make bench-certificates BENCH_CERTIFICATES_ARGS="--people 2000".
BENCH_CERTIFICATES_ARGS ?=
bench-certificates: deps translations
	$(PY) bench/certificates.py $(BENCH_CERTIFICATES_ARGS)

# 1,000 buyers at once for the last 10 tickets of a quota, then checkouts per second and the p99 of
# one (README, Benchmarks); also a step of `make bench`. Options:
# make bench-checkout BENCH_CHECKOUT_ARGS="--sustained 500 --price 'EUR 15.00'".
BENCH_CHECKOUT_ARGS ?=
bench-checkout: deps translations
	$(PY) bench/checkout.py $(BENCH_CHECKOUT_ARGS)

# 6,000 gifts a minute for two minutes by card (localstripe, signed notifications) and then from wallets,
# while 10,000 open campaign pages watch the total (README, Benchmarks); also a step of `make bench`.
# Options: make bench-donations BENCH_DONATIONS_ARGS="--pages 1000 --seconds 30 --paths card".
BENCH_DONATIONS_ARGS ?=
bench-donations: deps translations
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) bench/donations.py $(BENCH_DONATIONS_ARGS)

# Maintainers: refresh the catalog template and every locale after changing strings.
extract-messages: deps
	$(PYBABEL) extract -F babel.cfg -k N_ -k _ -o translations/messages.pot --no-location --sort-output .

update-messages: extract-messages
	$(PYBABEL) update -i translations/messages.pot -d translations -D messages --no-fuzzy-matching -w 100

clean:
	rm -rf $(VENV) .pytest_cache static/vendor
	find translations -name '*.mo' -delete
