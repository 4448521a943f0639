# Included by layers/deps/Makefile and layers/shared/Makefile: `$(call compile-bytecode,DIR)`
# compiles every module under DIR into __pycache__/*.cpython-313.pyc with CPython 3.13, the
# Lambda runtime's Python. /opt is read-only in Lambda, so a layer without bytecode is compiled
# again by every cold start (bench/cold_start.py measures what this saves).
#
# Hash-based pycs: a zip keeps file times only to two seconds and in local time, so the
# default timestamp check could find every pyc stale. "checked-hash" still compares each pyc
# with its source's hash on import, so a pyc can never run in place of a different source.
#
# Without a Python 3.13 the build stops, naming where it looked (.ci/find-python): a layer
# built on another machine must be the layer that was measured. LAYER_BYTECODE=none
# (e.g. `LAYER_BYTECODE=none sam build`) builds the layers without bytecode on purpose: the
# same code, a slower cold start.
LAYER_BYTECODE ?= checked-hash
FIND_PYTHON313 := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))../.ci/find-python) 3.13

# -s/-p: the code objects name /opt/python/..., where Lambda mounts the layers, not the build directory.
define compile-bytecode
	if [ "$(LAYER_BYTECODE)" = none ]; then \
		echo "LAYER_BYTECODE=none: $(1) gets no bytecode"; \
	else \
		python313="$$($(FIND_PYTHON313))" || { \
			echo "The layers' bytecode must be compiled by CPython 3.13 (the runtime's), and none was found." >&2; \
			echo "Install Python 3.13, or build without bytecode: LAYER_BYTECODE=none sam build" >&2; \
			exit 1; }; \
		"$$python313" -m compileall -q -j 0 --invalidation-mode $(LAYER_BYTECODE) \
			-s "$(1)" -p /opt/python "$(1)" > /dev/null; \
	fi
endef
