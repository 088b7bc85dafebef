# Developer shortcuts. CI runs `python -m pytest` (see README); these are for long runs by hand.

PYTHON ?= python
# Examples per hypothesis property in `make fuzz` (the suite's default is a short CI budget).
MACVLAN_SIM_FUZZ_EXAMPLES ?= 5000

.PHONY: fuzz
# Every fuzz property (tests whose name contains "fuzz"), with the long budget, serially.
fuzz:
	MACVLAN_SIM_FUZZ_EXAMPLES=$(MACVLAN_SIM_FUZZ_EXAMPLES) $(PYTHON) -m pytest -n 0 -q -p no:cacheprovider -k fuzz tests
