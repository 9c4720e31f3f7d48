"""Switchboard benchmarks (``make bench``): figures, not pass/fail tests."""
