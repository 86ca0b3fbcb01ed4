"""Load and scale benchmarks (``make bench``). See bench/common.py for the helpers."""
