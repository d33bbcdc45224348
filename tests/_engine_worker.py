"""One process of a multi-process streamed comparison (``tests/test_engine.py``).

``python tests/_engine_worker.py ARRAYS OUT PID NPROC PORT``: joins ``NPROC`` CPU
processes (gloo collectives) at ``localhost:PORT``, feeds process ``PID``'s contiguous
share of the rows of ``ARRAYS`` (an ``.npz`` of ``f1, g1, f2, g2``) to a ``PairStream`` in
5 chunks, merges the processes' states and writes the result as JSON to ``OUT`` (process 0).
"""

import json
import sys

import jax
import numpy as np

from repsim_jax.streaming import PairStream

arrays_path, out, pid, nproc, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.distributed.initialize(f"localhost:{port}", nproc, pid)
with np.load(arrays_path) as data:
    f1, g1, f2, g2 = (data[k] for k in ("f1", "g1", "f2", "g2"))
own = np.array_split(np.arange(f1.shape[0]), nproc)[pid]
stream = PairStream(g1, g2)
for rows in np.array_split(own, 5):
    stream.add(f1[rows], f2[rows])
result = stream.merge_processes().result()
assert stream.count == f1.shape[0], stream.count
if pid == 0:
    with open(out, "w") as file:
        json.dump(result, file)
jax.distributed.shutdown()
