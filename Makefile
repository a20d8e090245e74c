# lighter: everything a fresh Debian machine with Python 3.11 and root needs.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEBS   := skopeo umoci docker-registry curl time
APT_GET ?= apt-get
# apt-get as root, or through sudo for a developer who is not
SUDO    ?= $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PYTEST_ARGS ?=

.PHONY: demo test lint unit bench debs venv-deps clean

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory venv-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# Debian's python3 has no ensurepip (so no `-m venv`) without its pythonX.Y-venv package.
venv-deps:
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || { \
		pkg=$$($(PYTHON) -c 'import sys; print("python%d.%d-venv" % sys.version_info[:2])') && \
		echo "installing Debian package $$pkg ($(PYTHON) -m venv needs ensurepip)" && \
		$(SUDO) $(APT_GET) update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) $(APT_GET) install -y -qq --no-install-recommends $$pkg; }

# Debian packages the interop and registry tests run against.
debs:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) $(APT_GET) update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) $(APT_GET) install -y -qq --no-install-recommends $$missing; \
	fi

demo: $(STAMP)
	$(PY) -m lighter.demo

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src
	$(VENV)/bin/lint-imports

unit: $(STAMP)
	$(VENV)/bin/pytest -q -n 2 $(PYTEST_ARGS)

test: $(STAMP) debs lint
	$(VENV)/bin/pytest -q -n 2 --dist loadfile $(PYTEST_ARGS)

bench: $(STAMP) debs
	$(PY) -m bench

clean:
	rm -rf $(VENV) demo-out bench-out .mypy_cache .ruff_cache .pytest_cache
