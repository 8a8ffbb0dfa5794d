# Two entry points for a fresh machine: `make run` and `make test` (see README.md).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
HOST    ?= 127.0.0.1
PORT    ?= 8000

.PHONY: run test setup system-deps vendor bench loadtest editor-bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,load]'
	touch $(STAMP)

setup: $(STAMP) system-deps vendor

# Debian packages the tests drive: Chromium (Playwright cannot download its own offline),
# ImageMagick (reads our clipping paths), potrace and vips (reference tools in benchmarks).
system-deps:
	@missing=""; \
	for pair in chromium:chromium identify:imagemagick potrace:potrace vips:libvips-tools; do \
	  cmd=$${pair%%:*}; pkg=$${pair##*:}; command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	  else echo "missing Debian packages:$$missing (install them as root)"; fi; \
	fi

# Front-end libraries come from the npm registry through package-lock.json, not pasted code.
vendor:
	@if [ -f package.json ]; then \
	  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then npm ci --no-audit --no-fund --silent; fi; \
	  $(BIN)/python tools/vendor_static.py; \
	fi

run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py demo_banner --host $(HOST) --port $(PORT)
	$(BIN)/daphne -b $(HOST) -p $(PORT) jewelreview.asgi:application

test: setup
	$(BIN)/python -m pytest -p no:cacheprovider -n 2 --dist loadgroup $(PYTEST_ARGS)

bench: setup
	$(BIN)/python -m masks bench

loadtest: setup
	$(BIN)/python -m benchmarks.loadtest

editor-bench: setup
	$(BIN)/python -m benchmarks.editor_frames

clean:
	rm -rf $(VENV) node_modules static/vendor var
