# seqgap-lab: set up, test, regenerate the reports, benchmark.
# Uses the active virtualenv ($VIRTUAL_ENV) or conda env ($CONDA_PREFIX) if there is one,
# otherwise creates and uses ./.venv. Every recipe echoes what it runs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
# A bare `torch` would pull a multi-GB CUDA build; this pin is a local CPU wheel here.
TORCH_SPEC ?= torch==2.13.0
PROFILE ?=
# e.g. 0.01: every profile's training steps times this (seqgap-lab --budget-scale), to exercise `full` end to end
BUDGET_SCALE ?=
# ray: the notebooks as Ray tasks on a local cluster (needs the [ray] extra; see README, Past one machine)
EXECUTOR ?=
# notebooks at a time on this machine, each with cores / JOBS torch threads (report --jobs; 1 = one after another)
JOBS ?= 2
PYTEST_ARGS ?=

ACTIVE_ENV := $(abspath $(or $(VIRTUAL_ENV),$(CONDA_PREFIX)))
# An activated ./.venv is the same env as the default: keep one stamp for it.
ifeq ($(ACTIVE_ENV),$(CURDIR)/.venv)
  ACTIVE_ENV :=
endif

ifeq ($(ACTIVE_ENV),)
  ENV_DIR := .venv
  STAMP := .venv/.seqgap-setup-stamp
  ENV_DEP := .venv/bin/python
else
  ENV_DIR := $(ACTIVE_ENV)
  # The env's path is in the stamp's name so that switching env redoes setup there.
  STAMP := .seqgap-setup-stamp$(subst /,_,$(ACTIVE_ENV))
  ENV_DEP :=
endif
PY := $(ENV_DIR)/bin/python

# Debian packages the real corpora are read from (Bible text in SWORD modules; see README, Data).
SWORD_PKGS := sword-text-sparv sword-text-web sword-text-kjv
# Debian packages the synthesized speech corpus needs (espeak-ng speaks the transcripts).
SPEECH_PKGS := espeak-ng
# Debian's browser the browser tests drive through playwright (never `playwright install`: no download).
BROWSER_PKGS := chromium

.PHONY: help system-deps setup web-assets data test report slides bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  make \1\t/'
	@echo "  (environment: $(ENV_DIR); TORCH_SPEC=$(TORCH_SPEC); PROFILE=$(or $(PROFILE),auto))"

.venv/bin/python:
	@echo "==> creating .venv with $(PYTHON)"
	@if ! $(PYTHON) -m venv .venv; then \
	  echo "==> '$(PYTHON) -m venv' failed (Debian without python3-venv?): retrying without ensurepip"; \
	  rm -rf .venv; \
	  $(PYTHON) -m venv --without-pip .venv; \
	  echo "==> $(PYTHON) -m pip --python .venv/bin/python install pip"; \
	  $(PYTHON) -m pip --python .venv/bin/python install pip; \
	fi

# Depends on pyproject.toml so that a changed dependency list reinstalls; otherwise a no-op.
$(STAMP): pyproject.toml | $(ENV_DEP)
	@echo "==> setting up $(ENV_DIR) ($$($(PY) -c 'import sys; print("python", sys.version.split()[0])'))"
	@if $(PY) -c 'import torch' >/dev/null 2>&1; then \
	  echo "==> torch $$($(PY) -c 'import torch; print(torch.__version__)') already installed: keeping it"; \
	else \
	  echo "==> $(PY) -m pip install \"$(TORCH_SPEC)\""; \
	  $(PY) -m pip install "$(TORCH_SPEC)"; \
	fi
	$(PY) -m pip install -e ".[dev]"
	@touch $@

# Cheap when the packages are there (five `dpkg -s`); never fails the build: without root or
# passwordless sudo (or off Debian) it prints what to install; the real-data corpora and browser tests are skipped.
system-deps:  ## install the Debian packages of the real corpora, espeak-ng and chromium (apt-get as root or via sudo -n)
	@missing=""; \
	for pkg in $(SWORD_PKGS) $(SPEECH_PKGS) $(BROWSER_PKGS); do dpkg -s "$$pkg" >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
	  echo "==> note: no apt-get here; the real corpora need the Debian packages$$missing (or bring your own corpus: README, Data)"; exit 0; \
	fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "==> note: missing$$missing and not root (no passwordless sudo): run 'sudo apt-get install -y$$missing' for the real corpora and the browser tests"; exit 0; fi; \
	echo "==> $${sudo:+$$sudo }apt-get update && $${sudo:+$$sudo }apt-get install -y$$missing"; \
	if ! { $$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; }; then \
	  echo "==> note: apt-get failed; the real corpora and the browser tests need$$missing (continuing without them)"; \
	fi

setup: system-deps $(STAMP) web-assets  ## create/refresh the environment (only when pyproject.toml changed)
	@echo "==> environment ready: $(PY)"

# Pinned npm packages (require.js, the widget manager, MathJax 3, reveal.js 4, jQuery) into .web-assets/, so the
# reports and slides render widgets and math offline; a no-op once there. Without npm it says so and goes on.
web-assets: $(STAMP)  ## fetch the reports' offline web assets with npm (about 7 MB, checked against pinned hashes)
	$(PY) -m seqgap_lab assets install --if-missing

data: setup  ## prepare the real corpora into data/corpora/ (bible, modernize, code, prose)
	$(PY) -m seqgap_lab data prepare all

test: setup  ## run the whole test suite (notebooks in the smoke profile)
	$(PY) -m seqgap_lab data prepare all --if-missing
	$(PY) -m pytest -q $(PYTEST_ARGS)

report: setup  ## regenerate every notebook into reports/, pages and slides (PROFILE=smoke|default|full; auto: full on a GPU; JOBS notebooks at a time)
	$(PY) -m seqgap_lab data prepare all --if-missing
	$(PY) -m seqgap_lab report --slides $(if $(PROFILE),--profile $(PROFILE)) $(if $(BUDGET_SCALE),--budget-scale $(BUDGET_SCALE)) $(if $(EXECUTOR),--executor $(EXECUTOR),--jobs $(JOBS))

slides: setup  ## rewrite the decks and pages from the executed notebooks of the last report (no rerun)
	$(PY) -m seqgap_lab slides

bench: setup  ## side-by-side benchmark, JSON out
	$(PY) -m seqgap_lab bench --json

clean:  ## remove reports/ and figures/<stem>/ (keeps data/ and the READMEs)
	rm -rf reports
	@if [ -d figures ]; then \
	  echo "find figures -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +"; \
	  find figures -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +; \
	fi
