# kgrag: two commands for a newcomer.
#   make run    set up, build the default KG store (and, as they land, index and model), start kgrag
#   make test   set up and run the test suite (what CI runs)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STORE := kg/store/default

.PHONY: setup run store browser test lint bench clean

setup: $(VENV)/.installed

# torch first, pinned: its CPU build is on these machines; unpinned, pip would pull GBs of CUDA.
$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[retrieval,dev]"
	touch $@

store: $(STORE)/manifest.json

$(STORE)/manifest.json: | setup
	$(BIN)/kgrag kg import cmekg hpo mondo icd10cm --out $(STORE)

run: store
	$(BIN)/kgrag kg stats --store $(STORE)
	$(BIN)/kgrag kg show 糖尿病 --store $(STORE) --limit 6

# headless Chromium for the web-page tests (they skip without it): installed when missing, never prompting
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo "sudo -n")
browser:
	@command -v chromedriver >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium \
	  chromium-driver) || echo "could not install chromium chromium-driver: the web-page tests will skip"

test: setup browser
	$(BIN)/ruff check kgrag tests benchmarks
	$(BIN)/python -m pytest -m "not gpu"

lint: setup
	$(BIN)/ruff check kgrag tests benchmarks
	$(BIN)/mypy kgrag

bench: store
	$(BIN)/python benchmarks/kg_store.py

clean:
	rm -rf $(VENV) $(STORE)
