# Two commands do everything on a fresh machine (see README.md):
#   make demo   render, validate and report a demo overlay, then a short CPU training run
#   make test   the whole test suite
# Both install what they need first; a second run installs nothing.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools/bin

# Pinned tool versions (Go modules; release archives with checksums in tools/releases.txt).
KUSTOMIZE_VERSION := v5.7.1
# The oldest supported kustomize: kubectl 1.27's, the oldest kubectl that renders the overlays right.
KUSTOMIZE_OLDEST := v5.0.1
KUBECONFORM_VERSION := v0.8.0
ACTIONLINT_VERSION := v1.7.12

.PHONY: help setup tools oldest-tools packages cluster-tools venv demo test clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: venv tools ## install the Python environment and the pinned tools

venv: $(VENV)/.installed ## Python virtual environment with the pinned requirements
$(VENV)/.installed: requirements.txt requirements-cli.txt trainer/requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	touch $@

tools: ## kustomize, kubeconform and actionlint at pinned versions, into .tools/bin
	@tools/install-tool.sh kustomize sigs.k8s.io/kustomize/kustomize/v5 $(KUSTOMIZE_VERSION)
	@tools/install-tool.sh kubeconform github.com/yannh/kubeconform/cmd/kubeconform $(KUBECONFORM_VERSION)
	@tools/install-tool.sh actionlint github.com/rhysd/actionlint/cmd/actionlint $(ACTIONLINT_VERSION)

oldest-tools: ## kustomize $(KUSTOMIZE_OLDEST) beside the pinned one, for the test that both render alike
	@tools/install-tool.sh kustomize sigs.k8s.io/kustomize/kustomize/v5 $(KUSTOMIZE_OLDEST) kustomize-$(KUSTOMIZE_OLDEST)

packages: ## Debian packages the tests use: pigz (the seed's gzip format), strace (kills at each rename, tests/hostile)
	@missing=$$(for tool in pigz strace; do command -v $$tool >/dev/null || echo $$tool; done | xargs); [ -z "$$missing" ] \
	  || { sudo=$$([ "$$(id -u)" = 0 ] || echo sudo -n); command -v apt-get >/dev/null \
	  && $$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing >/dev/null; } \
	  || { echo "error: $$missing missing; install it (Debian/Ubuntu: sudo apt-get install $$missing) and rerun" >&2; exit 2; }

cluster-tools: ## the pinned control plane for tests/cluster (etcd, kube-*, kubectl, kwok) into .tools/bin
	@tools/controlplane/build.sh

demo: setup ## the main job on an embedded default, no cluster needed
	PATH="$(CURDIR)/$(TOOLS):$$PATH" $(BIN)/nautilus demo

test: setup packages cluster-tools oldest-tools ## the whole test suite (builds the test control plane first)
	PATH="$(CURDIR)/$(TOOLS):$$PATH" $(BIN)/python -m pytest

clean: ## remove the environment and tools
	rm -rf $(VENV) .tools
