"""`python -m benchmarks`: every benchmark, one table (see benchmarks/run_all.py)."""

from benchmarks.run_all import main

main()
