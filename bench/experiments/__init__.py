"""The performance experiments of README.md beside this file (`python -m bench.experiments.ab`)."""
