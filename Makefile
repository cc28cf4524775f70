# Pingyi: `make run` serves the demo, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app survey
STAMP  := $(VENV)/.installed

.PHONY: run test test-deps lint clean

# The virtual environment, reinstalled whenever pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/pybabel compile -d survey/translations
	touch $@

run: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) demo --if-empty
	@scripts/print-urls
	exec $(BIN)/gunicorn -c python:survey.serving 'survey:create_app()'

# Debian packages the tests need: Chromium (driven by Playwright; never a
# browser download), PostgreSQL (the second database under test), a CJK
# font (charts, the report), pango (WeasyPrint lays the report out with it),
# poppler-utils and Ghostscript (the report's text is read back by both).
# Installed as root after `apt-get update`, only where missing.
test-deps:
	@scripts/system-deps chromium postgresql fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 \
		poppler-utils ghostscript

test: $(STAMP) test-deps
	scripts/run-tests

# ruff (pyflakes, import order, bugbear, pyupgrade) and mypy, as configured in
# pyproject.toml; `make test` runs them too.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) test-artifacts .pytest_cache
