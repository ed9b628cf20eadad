# hostmedic: build, test and demo on Debian 12.
#
# Every target installs what it needs by itself (as root, or through sudo), and
# is quick when that is already done:
#   make deps    Debian packages (apt is skipped while .venv/.debs-ok exists and
#                every package is installed)
#   make venv    ./.venv with the project installed editable, with the test and fleet extras
#                (redone when pyproject.toml changes)
#   make test    pytest (extra arguments: make test PYTEST_ARGS='-k journal -x'), then
#                check-hardening
#   make check-hardening  tests/hardening at full strength (bad input, faults, archives,
#                secrets, files, hostile names, 1,000 sosreports in one process)
#   make demo    diagnose the bundled example sosreport (exit 0, 1 or 2 is success)
#   make lint    lint the rule pack
#   make bench   build realistic inputs (kept in build/bench) and print the performance
#                table (not part of test; BENCH_ARGS='--runs 5 --sizes 100000,1000000')
#   make lab     the incident lab: real libvirt + qemu guests; six incidents on tiny guests
#                and six on Debian systemd guests (NFS hang, hung shutdown, the post-reboot
#                hook, --host over SSH), diagnosed several ways and fixed for real (root on
#                Debian 12 amd64; about 25 minutes). LAB_SET=ci: the tiny-guest scenarios and
#                the systemd ones marked `ci: true` (about 12 minutes)
#   make wheel   build dist/hostmedic-*.whl from a clean build/ folder
#   make clean   remove .venv and build artefacts

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
DEBS_STAMP := $(VENV)/.debs-ok
PYTEST_ARGS ?=
DEMO_SOSREPORT ?= examples/nfs-hang-guest

DEBS := libvirt-dev libsystemd-dev pkg-config systemd systemd-journal-remote \
        sysstat smartmontools xz-utils libvirt-clients chromium chromium-driver \
        openssh-server openssh-client sudo

export DEBIAN_FRONTEND := noninteractive
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps venv demo test lint bench lab check-packages check-hardening wheel clean

all: test

# Debian packages. Besides $(DEBS): python3-venv when $(PYTHON) has no ensurepip
# (Debian's own python3 without python3-venv), python3-dev when it has no
# Python.h (libvirt-python, systemd-python and durable-rules compile C).
deps:
	@missing=""; \
	for p in $(DEBS); do \
	  st=$$(dpkg-query -W -f='$${db:Status-Abbrev}\n' "$$p" 2>/dev/null || true); \
	  case "$$st" in ii*) ;; *) missing="$$missing $$p";; esac; \
	done; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	$(PYTHON) -c 'import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
	  2>/dev/null || missing="$$missing python3-dev"; \
	if [ -z "$$missing" ] && [ -f $(DEBS_STAMP) ]; then exit 0; fi; \
	echo "deps: apt-get install$${missing:- (stamp $(DEBS_STAMP) absent; all installed)}"; \
	$(SUDO) apt-get update -q; \
	$(SUDO) apt-get install -y -q --no-install-recommends $(DEBS) $$missing; \
	mkdir -p $(VENV); \
	touch $(DEBS_STAMP)

venv: $(VENV_STAMP)

# deps is order-only: it always runs (cheaply) but never forces a reinstall.
$(VENV_STAMP): pyproject.toml | deps
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --progress-bar off -e '.[test,fleet]'
	@touch $@

# A package missing from [tool.setuptools] packages still imports in the
# editable .venv, but is left out of a regular install: fail early on that.
export CHECK_PACKAGES_PY
define CHECK_PACKAGES_PY
import os, sys, tomllib
cfg = tomllib.load(open("pyproject.toml", "rb"))["tool"]["setuptools"]
listed, dirs = set(cfg["packages"]), cfg["package-dir"]
errors = []
for root_pkg, root_dir in sorted(dirs.items()):
    if root_pkg not in listed:
        errors.append(f"{root_pkg} is in package-dir but not in packages")
    for here, subdirs, files in os.walk(root_dir):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith((".", "__")))
        rel = os.path.relpath(here, root_dir)
        pkg = root_pkg if rel == "." else root_pkg + "." + rel.replace(os.sep, ".")
        has_py = any(f.endswith(".py") for f in files)
        if has_py and pkg not in listed:
            errors.append(f"{here}/ holds Python modules: add \"{pkg}\" to [tool.setuptools] packages")
        if pkg in listed and "__init__.py" not in files:
            errors.append(f"{here}/__init__.py is missing (editable installs need it)")
for pkg in sorted(listed):
    root = max((r for r in dirs if pkg == r or pkg.startswith(r + ".")), key=len, default=None)
    if root is None or not os.path.isdir(os.path.join(dirs[root], *pkg[len(root):].split(".")[1:])):
        errors.append(f"{pkg} is listed in packages but has no folder")
for e in errors:
    print("check-packages:", e, file=sys.stderr)
sys.exit(1 if errors else 0)
endef

check-packages:
	@$(PYTHON) -c "$$CHECK_PACKAGES_PY"

test: venv check-packages
	$(VPY) -m pytest -q --ignore=tests/hardening $(PYTEST_ARGS)
	$(MAKE) --no-print-directory check-hardening

# tests/hardening at full strength: 1,000 sosreports through one process (memory, threads,
# files must not grow) and more fuzz examples per parser. A plain `pytest` runs the same
# tests lighter (150 sosreports, 120 examples).
HARDENING_ENV ?= HOSTMEDIC_LOAD_ITERATIONS=1000 HOSTMEDIC_FUZZ_EXAMPLES=300
check-hardening: venv
	$(HARDENING_ENV) $(VPY) -m pytest -q tests/hardening $(PYTEST_ARGS)

# Nagios exit codes: 0 OK, 1 warning, 2 error (findings are the point of the
# demo) count as success; 3 (unknown) or anything else fails. Python itself also
# exits 1 on an uncaught exception and argparse 2 on a usage error, so a
# traceback or a usage error on stderr fails the demo too.
demo: venv
	@test -e $(DEMO_SOSREPORT) || { echo "demo: $(DEMO_SOSREPORT) not found" >&2; exit 1; }
	@rc=0; $(VENV)/bin/diagnose --sosreport $(DEMO_SOSREPORT) 2>$(VENV)/demo.stderr || rc=$$?; \
	cat $(VENV)/demo.stderr >&2; \
	if grep -q -E '^Traceback \(most recent call last\):|^(diagnose|hostmedic): error: ' $(VENV)/demo.stderr; then \
	  echo "demo: diagnose crashed or was misused (exit $$rc)" >&2; exit 1; fi; \
	case $$rc in \
	  0|1|2) echo "demo: diagnose exited $$rc (expected 0, 1 or 2)";; \
	  *) echo "demo: diagnose exited $$rc (expected 0, 1 or 2)" >&2; exit $$rc;; \
	esac

lint: venv
	$(VENV)/bin/diagnose rules lint

# A few minutes: inputs are built once (about two minutes) and reused; the peer
# (insights-core) goes in a throwaway venv under build/bench.
BENCH_ARGS ?=
bench: venv
	$(VPY) bench/run.py $(BENCH_ARGS)

# tests/lab installs what it needs itself (libvirt, QEMU, sosreport, mmdebstrap, a Debian
# kernel) and cleans up after itself; the systemd guest's base image stays cached in
# /var/cache/hostmedic-lab (rebuilt when its recipe changes, about a minute). `timeout` bounds it: on SIGTERM it still cleans up. It skips,
# saying why, where it cannot run (not root, not Debian amd64); under CI=true that fails.
LAB_TIMEOUT ?= 3300
LAB_SET ?= all
LAB_ARGS ?=
lab: venv
	timeout --kill-after=30 $(LAB_TIMEOUT) $(VPY) tests/lab/run_lab.py --set $(LAB_SET) $(LAB_ARGS)

# setuptools reuses build/lib without pruning it, so a file deleted from the
# tree would still ship in the next `pip install .` or wheel: start clean.
wheel: venv
	rm -rf build *.egg-info
	$(VPY) -m pip wheel --no-deps -w dist .
	rm -rf build *.egg-info

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
