"""Tests of the live-kernel harness (macvlan_sim.verify.kernel)."""
