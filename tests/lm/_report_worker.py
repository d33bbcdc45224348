"""One process of a multi-process language-model report (``tests/lm/test_lm_report.py``).

``python tests/lm/_report_worker.py TEACHER STUDENT OUT PID NPROC PORT``: joins ``NPROC``
CPU processes (gloo collectives) at ``localhost:PORT``, restores the two workdirs and writes
this process's :func:`repsim_jax.lm.evaluate.split_report` of the student against the
teacher on the teacher's test split (each process its own sequences) as JSON to ``OUT``.
"""

import json
import sys

import jax

from repsim_jax.experiment import restore
from repsim_jax.lm import evaluate as lm_evaluate

LAYERS = ("0:1", "1:final")
PIVOTS = {"num_pivots": 3, "num_subsets": 4}

if __name__ == "__main__":
    teacher_dir, student_dir, out = sys.argv[1:4]
    pid, nproc, port = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", nproc, pid)
    teacher, student = restore(teacher_dir), restore(student_dir)
    tokens = teacher.built.data.splits["test"]
    report = lm_evaluate.split_report(student.model, tokens, teacher.model, pivot_options=PIVOTS, layers=LAYERS)
    with open(out, "w") as file:
        json.dump(report, file)
    jax.distributed.shutdown()
