"""The benchmarks (`make bench`: bench.run, bench.report) and the soak (`make soak`: bench.soak),
run from the repository root as modules (`.venv/bin/python -m bench.run`)."""
