"""`python -m bench.child MODULE:FUNCTION ARGS...`: one measured step of a benchmark, in a
process of its own (bench/identity_support.py `run_child`), importing nothing before it
runs. Python's spawn imports a program's main module again in each worker process it
starts (staging's phone parsers: transforms/phones.py). The pipeline's run processes
(`python -m pipelines`, Dagster's run worker) have a package's __main__, which spawn
skips; a benchmark module as main would load the generator and pandas into every worker,
so its workers would start slower and larger than a run's."""

from __future__ import annotations

import importlib
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 1 or ":" not in argv[0]:
        print("usage: python -m bench.child MODULE:FUNCTION ARGS...", file=sys.stderr)
        return 2
    module, function = argv[0].split(":", 1)
    return int(getattr(importlib.import_module(module), function)(*argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
