"""Half-written JSON files of a workdir (issue 21, cases 3 and 9).

Before: a partial last line of metrics.jsonl made every resume fail (``Expecting ','
delimiter``); a truncated report.json blocked ``evaluate`` (the documented way to
rewrite it), ``compare`` and ``distill``; neither message named the file. (A teacher
with a truncated report.json is distilled in test_fault_checkpoints.py, beside a damaged
teacher.)
"""

import json
import shutil

import pytest
from _faults import (
    EPOCHS,
    TRAIN,
    assert_bit_identical,
    cli,
    cli_pair,
    evaluates,
    ok,
    one_line,
    rows,
    warning_lines,
)


@pytest.mark.slow
def test_a_partial_last_metrics_line_is_dropped_and_the_run_resumes_exactly(base, trained):
    """A run killed while writing epoch 8's row, before its checkpoint: the re-run drops
    the partial line, trains epoch 8 from step 7 and logs it once."""
    shutil.rmtree(trained / "checkpoints" / str(EPOCHS))
    lines = (trained / "metrics.jsonl").read_text().splitlines()
    (trained / "metrics.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])
    result = ok(cli([*TRAIN, f"--workdir={trained}"], trained.parent))
    assert warning_lines(result) == []
    assert_bit_identical(trained, base.leaves)
    assert rows(trained) == rows(base.path)  # the same numbers, each epoch once


def _cut(path, keep: int) -> None:
    path.write_text(path.read_text()[:keep])


@pytest.mark.slow
def test_a_truncated_report_is_rewritten_by_evaluate_and_does_not_block_compare(base, trained, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(trained, other)
    for workdir in (trained, other):
        _cut(workdir / "report.json", 40)
    evaluated, compared = cli_pair(
        ["evaluate", f"--workdir={trained}", "--quiet"], ["compare", other, base.path, "--json"], tmp_path
    )
    lines = warning_lines(ok(evaluated))
    assert lines and all(f"{trained}/report.json" in line for line in lines), lines
    report = json.loads((trained / "report.json").read_text())["test"]
    for key in ("accuracy", "nll", "ece", "brier"):
        assert report[key] == pytest.approx(base.report["test"][key], rel=1e-9), key
    lines = warning_lines(ok(compared))
    assert lines and all(f"{other}/report.json" in line for line in lines), lines
    assert json.loads(compared.stdout)["logit_distance"] == 0.0  # the same model as the base run


@pytest.mark.slow
def test_a_truncated_config_is_one_line_naming_it_and_loses_nothing(base, trained):
    config = trained / "config.json"
    _cut(config, 30)
    damaged = config.read_bytes()
    evaluated, rerun = cli_pair(
        ["evaluate", f"--workdir={trained}", "--quiet"], [*TRAIN, f"--workdir={trained}"], trained.parent
    )
    for result in (evaluated, rerun):
        one_line(result, 2, f"{config} is damaged")
    assert config.read_bytes() == damaged  # the re-run did not replace it
    config.write_bytes(base.config_json)  # the user puts it back: the trained model is intact
    assert evaluates(trained)["test"]["accuracy"] == base.report["test"]["accuracy"]
    assert_bit_identical(trained, base.leaves)
