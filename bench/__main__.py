"""Run the benchmarks in order: ``python -m bench`` (all) or ``python -m bench foundation``.

Each module in ``BENCHMARKS`` has a ``run()`` that starts what it needs and prints a table.
Each runs in a process of its own: a benchmark configures Django in its process for its own
database, and Django can be configured only once per process.
"""

import importlib
import subprocess
import sys

BENCHMARKS = ["foundation", "coupons", "deals", "outage", "legacy"]


def main(argv):
    names = argv or BENCHMARKS
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    if len(names) == 1:
        print(f"\n=== bench.{names[0]}", flush=True)
        importlib.import_module(f"bench.{names[0]}").run()
        return 0
    failed = [
        name for name in names if subprocess.run([sys.executable, "-m", "bench", name]).returncode
    ]
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
