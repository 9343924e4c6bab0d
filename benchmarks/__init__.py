"""Benchmarks against bare-library floors; `python benchmarks/run_all.py` runs them all (see BENCHMARKS.md)."""
