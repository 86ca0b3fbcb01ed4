"""Run the benchmarks in order: ``python -m bench`` (all) or ``python -m bench foundation``.

Each module in ``BENCHMARKS`` has a ``run()`` that starts what it needs and prints a table.
"""

import importlib
import sys

BENCHMARKS = ["foundation", "coupons", "deals", "legacy"]


def main(argv):
    names = argv or BENCHMARKS
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    for name in names:
        print(f"\n=== bench.{name}")
        importlib.import_module(f"bench.{name}").run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
