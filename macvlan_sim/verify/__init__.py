"""Comparison with the live kernel: the harness, random scenarios, comparison and shrinking."""
