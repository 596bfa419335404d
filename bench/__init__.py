"""Reproducible benchmarks: ``python -m bench.NAME`` prints a comparison table; ``--json`` prints one object."""
