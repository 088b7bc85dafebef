# Developer shortcuts. CI runs `python -m pytest` (see pyproject.toml).
PYTHON ?= python
FUZZ_EXAMPLES ?= 20000

.PHONY: test fuzz

test:
	$(PYTHON) -m pytest

# The property-based fuzzers (tests marked `fuzz`) with a long budget: examples per property.
fuzz:
	MACVLAN_SIM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PYTHON) -m pytest -n 0 -q -m fuzz -p no:cacheprovider --timeout=0 tests
