# Corten: common tasks. `make help` lists them.

SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
# Where cargo puts binaries (honours CARGO_TARGET_DIR like cargo does).
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
CORTEN := $(TARGET_DIR)/release/corten
# State directory of the local cluster (PKI, etcd data, logs, pid files).
STATE_DIR ?= .corten
# System packages the build, the tests and `corten up` need (Debian 12).
DEPS := etcd-server etcd-client protobuf-compiler libprotobuf-dev mold prometheus curl containerd runc containernetworking-plugins busybox-static nftables iptables conntrack dnsutils
# Root does not need sudo.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps print-deps build up down status test lint fmt bench-apiserver bench-codec bench-proxy bench-kubelet bench-kcm clean

help: ## Show this help
	@echo "Usage: make <target>"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Variables: STATE_DIR=$(STATE_DIR) TARGET_DIR=$(TARGET_DIR)"

deps: ## Install the missing system packages (etcd, protoc, mold, promtool, curl) with apt-get
	@missing=""; \
	for pkg in $(DEPS); do \
	  dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all present ($(DEPS))"; exit 0; fi; \
	echo "deps: installing$$missing"; \
	if [ -z "$$APT_UPDATED" ]; then $(SUDO) apt-get update; fi; \
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y --no-install-recommends $$missing; \
	case " $$missing " in *" etcd-server "*) \
	  if [ -d /run/systemd/system ] && systemctl is-active --quiet etcd 2>/dev/null; then \
	    echo "deps: stopping Debian's etcd.service (corten runs its own etcd on 127.0.0.1:2379)"; \
	    $(SUDO) systemctl disable --now etcd; \
	  fi;; \
	esac

print-deps: ## Print the system package list (used by .ci/run)
	@echo $(DEPS)

build: ## Build every binary in release mode
	$(CARGO) build --release --workspace --bins

up: deps build ## Start a local cluster (etcd + kube-apiserver); state in STATE_DIR
	$(CORTEN) up --state-dir $(STATE_DIR)

down: ## Stop the local cluster (data kept; `corten down --purge` deletes it)
	@test -x $(CORTEN) || $(MAKE) --no-print-directory build
	$(CORTEN) down --state-dir $(STATE_DIR)

status: ## Show whether each component runs and is ready
	@test -x $(CORTEN) || $(MAKE) --no-print-directory build
	$(CORTEN) status --state-dir $(STATE_DIR)

test: deps ## Run all tests (cargo nextest if installed, else cargo test; debug profile)
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
	  echo "$(CARGO) nextest run --workspace"; \
	  $(CARGO) nextest run --workspace && \
	  echo "$(CARGO) test --workspace --doc" && \
	  $(CARGO) test --workspace --doc; \
	else \
	  echo "$(CARGO) test --workspace"; \
	  $(CARGO) test --workspace; \
	fi

lint: ## Check formatting and run clippy with warnings denied
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

bench-apiserver: deps ## Benchmark the apiserver against raw etcd (prints ratios; PODS=10000 CONCURRENCY=64 CONNECTIONS=1)
	$(CARGO) build --release -p corten-apiserver --bin kube-apiserver -p corten-e2e --bin apiserver-bench
	$(TARGET_DIR)/release/apiserver-bench --pods $(or $(PODS),10000) --concurrency $(or $(CONCURRENCY),64) --connections $(or $(CONNECTIONS),1)

bench-codec: ## Encode/decode and patch throughput for a Deployment and a Pod beside a serde_json baseline (prints ratios)
	$(CARGO) build --release -p corten-e2e --bin codec-bench
	$(TARGET_DIR)/release/codec-bench

bench-kcm: deps ## kube-controller-manager: DEPLOYMENTS workloads x REPLICAS rolled out beside the apiserver's raw create rate; reconciles/s, RSS, CPU (WORKLOAD=deployment|statefulset|job DEPLOYMENTS=1000 REPLICAS=10)
	$(CARGO) build --release -p corten-controller-manager --bin kube-controller-manager --example kcm-bench
	$(TARGET_DIR)/release/examples/kcm-bench --kcm $(TARGET_DIR)/release/kube-controller-manager --workload $(or $(WORKLOAD),deployment) --deployments $(or $(DEPLOYMENTS),1000) --replicas $(or $(REPLICAS),10)

bench-kubelet: deps ## Pod startup latency p50/p99 (single, batch of 30) and kubelet RSS/CPU with the real containerd (root; SINGLES=20 BATCH=30)
	$(CARGO) build --release -p corten-kubelet --bin kubelet --example kubelet-bench
	$(TARGET_DIR)/release/examples/kubelet-bench --kubelet $(TARGET_DIR)/release/kubelet --singles $(or $(SINGLES),20) --batch $(or $(BATCH),30)

bench-proxy: ## kube-proxy rules sync and programming latency, both modes, in a scratch network namespace (root; SIZES=1000,10000 MODES=nftables,iptables)
	$(CARGO) build --release -p corten-kube-proxy --bin proxy-bench
	$(TARGET_DIR)/release/proxy-bench --sizes $(or $(SIZES),1000,10000) --modes $(or $(MODES),nftables,iptables)

clean: ## Remove build artifacts (the cluster state in STATE_DIR is kept)
	$(CARGO) clean
