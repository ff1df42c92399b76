"""`python -m edgefuse.train` / `torchrun --nproc_per_node=N -m edgefuse.train --data DIR --out RUN`.

The same options as `edgefuse train`; under torchrun every process runs this, trains its shard,
and only rank 0 prints, logs and writes the run.
"""

from __future__ import annotations

import sys

from edgefuse.cli import main

if __name__ == "__main__":
    main(["train", *sys.argv[1:]])
