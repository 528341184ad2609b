# node-heap-sidecar. `make run` and `make test` do their own set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
ENV_FILE := build/node-heap.env

.PHONY: install run test test-deps lint format clean bench bench-full bench-deps bench-service-full bench-cgroup-v2 rehearse

# Everything: the package with the fleet extra and the test tools (moto, cfn-lint, mypy, ruff, ...).
# `make test` needs it.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,fleet]'
	touch $@ $(VENV)/.runtime

install: $(VENV)/.installed

# Only what the init job needs (boto3, structlog, tqdm, urllib3; not the fleet extra), quietly: `make run`
# on a fresh machine.
$(VENV)/.runtime: pyproject.toml
	@echo "Installing node-heap-sidecar and its dependencies into $(VENV) (once)..."
	@$(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --quiet --disable-pip-version-check -e .
	@touch $@

# The init job against a local task metadata endpoint built from task-definition.json (no AWS
# account needed), its decision explained, and the heap Node gets from the file it wrote: about a
# screenful. The job's own log (JSON, as CloudWatch Logs would get it) is kept in build/node-heap.log.
EMULATED := NODE_HEAP_ENV_FILE=$(ENV_FILE) NODE_HEAP_ECS_API=off \
	$(PY) -m sidecar emulate --task-definition task-definition.json --
run: $(VENV)/.runtime
	@mkdir -p build
	@echo "== python -m sidecar: the init job, against task metadata v4 emulated on 127.0.0.1 from task-definition.json"
	@$(EMULATED) $(PY) -m sidecar > build/node-heap.log || { tail -n 3 build/node-heap.log; exit 1; }
	@echo "Wrote $(ENV_FILE). Its log, in JSON lines as CloudWatch Logs gets them: build/node-heap.log"
	@echo; echo "== python -m sidecar explain: the same decision, explained (the env file's text is left out here)"
	@$(EMULATED) $(PY) -m sidecar explain | sed -e '1,2d' -e '/^Env file /,$$d'
	@echo "== . $(ENV_FILE) && exec node: what Node gets"
	@if command -v node >/dev/null; then \
		sh -c '. ./$(ENV_FILE) && exec node -e "const v8=require(\"v8\"); console.log(\"NODE_OPTIONS=\" + process.env.NODE_OPTIONS); console.log(\"heap_size_limit=\" + v8.getHeapStatistics().heap_size_limit / 1048576 + \" MiB\")"'; \
	else echo "(no node on PATH: install Node.js to see the heap it gets from $(ENV_FILE))"; fi

# What the tests need beyond Python: shells to source the file with, Node 20/22/24/26, Debian's
# OCI registry (tests/registry.py starts its own on 127.0.0.1; the package's service is kept from
# starting on 0.0.0.0:5000 by a policy-rc.d for the install's duration, where none exists), and
# User-Mode Linux: a real Linux kernel with cgroup v2 as a process (tests/cgroup2/). Not bookworm's
# user-mode-linux (6.1 panics on a CPU with AMX): Debian forky's, unpacked into .cache/uml with
# forky's libc beside it (patchelf; the system gains only that tool): tests/cgroup2/kernel.py says why.
test-deps: install
	@command -v busybox >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox >/dev/null; }
	@command -v patchelf >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >/dev/null; }
	@test -x /usr/bin/docker-registry || { apt-get update -qq && guard=; \
		if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && guard=1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null; rc=$$?; \
		if [ -n "$$guard" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc; }
	$(PY) -m tests.cgroup2.kernel
	$(PY) -m tests.nodes

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy sidecar bench tests

# NHS_STRICT=1: a missing cgroup, shell or Node binary fails the run instead of skipping tests.
test: test-deps lint
	NHS_STRICT=1 $(VENV)/bin/pytest -q

# The task played with a real Docker daemon: the image, task-definition.json, Node's heap (root).
rehearse: test-deps
	deploy/rehearse.sh

# The benchmarks (root, a cgroup memory controller): real Node in real memory cgroups.
# `bench`: the OOM benchmark's short profile (Node 22 at 128 MiB and 1 GiB, every workload and
# strategy) and the service benchmark's (Node 24 at 1 and 2 GiB under wrk), about 15 minutes.
# `bench-full`: the OOM matrix, Node 20/22/24/26 from 128 MiB to 4 GiB (about 2 hours).
# `bench-service-full`: the service matrix, Node 20/22/24/26 x 512 MiB-4 GiB, 5 rounds (about 2 hours).
# Results in bench/results/; `python -m tests.readme` puts them in the README.
bench-deps: test-deps
	$(PY) -m pip install --quiet -e '.[test,fleet,bench]'
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

bench: bench-deps
	$(PY) -m bench.run --profile short
	$(PY) -m bench.service --profile short

bench-full: bench-deps
	$(PY) -m bench.run --profile full

bench-service-full: bench-deps
	$(PY) -m bench.service --profile full

# The heap leak on a real cgroup v2 (a UML guest on a v1 machine): Node 20 and 22, 128 MiB to 1 GiB,
# the ECS task-level limit on the task's slice (about 25 minutes). Results in bench/results/leak-cgroup-v2.json.
bench-cgroup-v2: test-deps
	$(PY) -m pip install --quiet -e '.[test,fleet,bench]'
	$(PY) -m bench.run --cgroup v2 --profile full --majors 20,22 --sizes 128,256,512,1024 --workloads leak \
		--out bench/results/leak-cgroup-v2.json

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf build .pytest_cache .ruff_cache .mypy_cache .hypothesis
