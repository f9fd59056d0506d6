# Reprobook: `make book` and `make test` are the two commands (README.md).
# Each creates the environments it needs on first use (.venv, plus one .venv-<name> per extra
# environment in environments.yaml) with the pinned torch pair first, then the package.

PYTHON      ?= python3
PROFILE     ?= cpu-smoke
# A GPU user may point this at another build of the same pair (e.g. add --index-url ...).
TORCH_SPEC  ?= torch==2.14.1 torchvision==0.29.1
CONSTRAINTS ?= constraints.txt
VENV        := .venv
BIN         := $(VENV)/bin
STAMP       := $(VENV)/.reprobook-installed
PIP_FLAGS   := --disable-pip-version-check --no-input -q

.PHONY: book test envs run html check-html clean help

help:
	@echo "make book   - install, run every chapter at $(PROFILE), build the HTML book, check it in Chromium"
	@echo "make test   - install, run unit tests, hygiene checks and every notebook at ci-tiny"
	@echo "make envs   - create every environment listed in environments.yaml"
	@echo "make run PROFILE=gpu-1x [CHAPTER=slug]  - execute notebooks only"
	@echo "make clean  - remove build output, runs and executed notebooks (keeps environments)"

$(STAMP): pyproject.toml $(CONSTRAINTS) environments.yaml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/pip install $(PIP_FLAGS) $(TORCH_SPEC)
	$(BIN)/pip install $(PIP_FLAGS) -c $(CONSTRAINTS) -e '.[all]'
	@touch $@

# Extra environments (e.g. nerf): a venv per entry of environments.yaml other than main, with
# its extra installed and a Jupyter kernel of the same name registered in the main environment (and in
# its own, so that its tests can run the chapter's notebooks).
envs: $(STAMP)
	@for env in $$($(BIN)/reprobook envs names); do \
	  [ "$$env" = main ] && continue; \
	  venv=.venv-$$env; stamp=$$venv/.reprobook-installed; \
	  if [ ! -f $$stamp ] || [ pyproject.toml -nt $$stamp ]; then \
	    echo "creating environment $$env in $$venv"; \
	    test -x $$venv/bin/python || $(PYTHON) -m venv $$venv || exit 1; \
	    $$venv/bin/pip install $(PIP_FLAGS) --upgrade pip || exit 1; \
	    $$venv/bin/pip install $(PIP_FLAGS) $(TORCH_SPEC) || exit 1; \
	    $$venv/bin/pip install $(PIP_FLAGS) -c $(CONSTRAINTS) -e ".[$$env]" || exit 1; \
	    $$venv/bin/python -m ipykernel install --prefix $(VENV) --name reprobook-$$env \
	      --display-name "Python (reprobook $$env)" || exit 1; \
	    $$venv/bin/python -m ipykernel install --prefix $$venv --name reprobook-$$env \
	      --display-name "Python (reprobook $$env)" || exit 1; \
	    touch $$stamp; \
	  fi; \
	done

test: envs
	$(BIN)/python -m pytest $$($(BIN)/reprobook envs tests --env main)
	@for env in $$($(BIN)/reprobook envs names); do \
	  [ "$$env" = main ] && continue; \
	  dirs=$$($(BIN)/reprobook envs tests --env $$env); \
	  [ -z "$$dirs" ] && continue; \
	  echo "tests of environment $$env: $$dirs"; \
	  .venv-$$env/bin/python -m pytest $$dirs || exit 1; \
	done

run: envs
	$(BIN)/reprobook run --profile $(PROFILE) $(if $(CHAPTER),--chapter $(CHAPTER))

html: $(STAMP)
	$(BIN)/reprobook build --no-check

check-html: $(STAMP)
	$(BIN)/reprobook check-html

book: envs
	$(BIN)/reprobook run --profile $(PROFILE)
	$(BIN)/reprobook build

clean:
	rm -rf _build book/executed book/dashboard.md runs
