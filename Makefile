# Reprobook: `make book` and `make test` are the two commands (README.md).
# Each creates the environments it needs on first use (.venv, plus one .venv-<name> per extra
# environment in environments.yaml): the pinned torch pair first, then the package with the
# environment's lock file (requirements/<env>.lock) as constraints. `make lock` refreshes the locks.

PYTHON      ?= python3
PROFILE     ?= cpu-smoke
# A GPU user may point this at another build of the same pair (e.g. add --index-url ...).
TORCH_SPEC  ?= torch==2.14.1 torchvision==0.29.1
VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.reprobook-installed
PIP_FLAGS   := --disable-pip-version-check --no-input -q
HARNESS     := src/reprobook/fabric/harness

.PHONY: book test envs run html check-html harness lock vllm-env clean help

help:
	@echo "make book   - install, run every chapter at $(PROFILE) (cached chapters skipped), build the HTML book, check it in Chromium"
	@echo "make test   - install, run unit tests, hygiene checks and every notebook at ci-tiny"
	@echo "make envs   - create every environment listed in environments.yaml"
	@echo "make run PROFILE=gpu-1x [CHAPTER=slug] [FORCE=1] - execute notebooks only"
	@echo "make lock [UPGRADE=1] - recompile requirements/<env>.lock from pyproject.toml (uv)"
	@echo "make vllm-env - on a GPU machine: .venv-vllm with vLLM for the BurstGPT chapter's real server"
	@echo "make clean  - remove build output, runs and executed notebooks (keeps environments)"

$(STAMP): pyproject.toml requirements/main.lock environments.yaml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/pip install $(PIP_FLAGS) $(TORCH_SPEC)
	$(BIN)/pip install $(PIP_FLAGS) -c requirements/main.lock -e '.[all]'
	@touch $@

# Extra environments (e.g. nerf): a venv per entry of environments.yaml other than main, with
# its extra installed under its lock and a Jupyter kernel of the same name registered in the main
# environment (and in its own, so that its tests can run the chapter's notebooks).
envs: $(STAMP)
	@for env in $$($(BIN)/reprobook envs names); do \
	  [ "$$env" = main ] && continue; \
	  venv=.venv-$$env; stamp=$$venv/.reprobook-installed; lock=requirements/$$env.lock; \
	  if [ ! -f $$stamp ] || [ pyproject.toml -nt $$stamp ] || [ $$lock -nt $$stamp ]; then \
	    echo "creating environment $$env in $$venv"; \
	    test -x $$venv/bin/python || $(PYTHON) -m venv $$venv || exit 1; \
	    $$venv/bin/pip install $(PIP_FLAGS) --upgrade pip || exit 1; \
	    $$venv/bin/pip install $(PIP_FLAGS) $(TORCH_SPEC) || exit 1; \
	    $$venv/bin/pip install $(PIP_FLAGS) -c $$lock -e ".[$$env]" || exit 1; \
	    $$venv/bin/python -m ipykernel install --prefix $(VENV) --name reprobook-$$env \
	      --display-name "Python (reprobook $$env)" || exit 1; \
	    $$venv/bin/python -m ipykernel install --prefix $$venv --name reprobook-$$env \
	      --display-name "Python (reprobook $$env)" || exit 1; \
	    touch $$stamp; \
	  fi; \
	done

# The Fabric chapter's Node.js measurement harness: its npm dependencies from the committed lock.
harness:
	@if [ ! -f $(HARNESS)/package-lock.json ]; then exit 0; fi; \
	if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's nodejs and npm for the Fabric harness"; \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm || exit 1; \
	  else \
	    echo "npm not found: the Fabric harness's dry-run test will be skipped (install Debian's nodejs and npm)"; exit 0; \
	  fi; \
	fi; \
	if [ ! -d $(HARNESS)/node_modules ] || [ $(HARNESS)/package-lock.json -nt $(HARNESS)/node_modules ]; then \
	  echo "npm ci in $(HARNESS)"; (cd $(HARNESS) && npm ci --no-audit --no-fund --loglevel=error) || exit 1; \
	  touch $(HARNESS)/node_modules; \
	fi

test: envs harness
	$(BIN)/python -m pytest $$($(BIN)/reprobook envs tests --env main)
	@for env in $$($(BIN)/reprobook envs names); do \
	  [ "$$env" = main ] && continue; \
	  dirs=$$($(BIN)/reprobook envs tests --env $$env); \
	  [ -z "$$dirs" ] && continue; \
	  echo "tests of environment $$env: $$dirs"; \
	  .venv-$$env/bin/python -m pytest $$dirs || exit 1; \
	done

run: envs
	$(BIN)/reprobook run --profile $(PROFILE) $(if $(CHAPTER),--chapter $(CHAPTER)) $(if $(FORCE),--force)

html: $(STAMP)
	$(BIN)/reprobook build --no-check

check-html: $(STAMP)
	$(BIN)/reprobook check-html

book: envs
	$(BIN)/reprobook run --profile $(PROFILE)
	$(BIN)/reprobook build

# Locks: `uv pip compile` keeps the versions already pinned in requirements/<env>.lock where they
# still satisfy pyproject.toml (so a refresh changes only what must change); UPGRADE=1 re-resolves
# everything to the newest allowed versions. constraints.txt holds the torch pair. After a refresh,
# run `make test` and `make book` before committing the new locks.
lock: $(STAMP)
	@test -x $(BIN)/uv || $(BIN)/pip install $(PIP_FLAGS) uv
	@for env in $$($(BIN)/reprobook envs names); do \
	  extras=$$($(BIN)/reprobook envs extras --env $$env); \
	  echo "requirements/$$env.lock <- pyproject.toml [$$extras]"; \
	  $(BIN)/uv pip compile pyproject.toml --extra $$extras -c constraints.txt \
	    --python-version 3.11 --python-platform x86_64-manylinux_2_36 $(if $(UPGRADE),--upgrade) \
	    -o requirements/$$env.lock --quiet || exit 1; \
	done

# The BurstGPT chapter's real server (gpu-1x, gpu-smoke): vLLM pins its own torch, so it gets its
# own environment, with the version range its command line is built for (burstgpt/constants.py).
vllm-env: $(STAMP)
	test -x .venv-vllm/bin/python || $(PYTHON) -m venv .venv-vllm
	.venv-vllm/bin/pip install $(PIP_FLAGS) "vllm$$($(BIN)/python -c 'from reprobook.burstgpt.constants import VLLM_VERSIONS; print(VLLM_VERSIONS)')"

clean:
	rm -rf _build book/executed book/dashboard.md runs
