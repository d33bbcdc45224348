"""TensorBoard event files under WORKDIR/tb hold the same scalars as metrics.jsonl."""

import json
import shutil
import struct

import _common
import pytest
from tensorboardX.proto import event_pb2


def _events(*paths):
    """Every Event in the TFRecord files ``paths`` (records: length, crc, payload, crc)."""
    events = []
    for path in paths:
        data = path.read_bytes()
        offset = 0
        while offset < len(data):
            (length,) = struct.unpack("<Q", data[offset : offset + 8])
            events.append(event_pb2.Event.FromString(data[offset + 12 : offset + 12 + length]))
            offset += 12 + length + 4
    return events


def _scalars(directory):
    events = _events(*sorted(directory.glob("events.out.tfevents.*")))
    return {(v.tag, e.step): v.simple_value for e in events if e.HasField("summary") for v in e.summary.value}


@pytest.mark.slow
def test_event_files_per_seed_equal_metrics_jsonl(tmp_path):
    _common.run_fit(tmp_path, None, seeds=[5, 7], num_epochs=2, eval_data=_common.distill_data(32))
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    for seed in (5, 7):
        scalars = _scalars(tmp_path / "tb" / f"seed{seed}")
        expected = {(k, r["step"]): v for r in rows if r["seed"] == seed for k, v in r.items() if "/" in k}
        assert {"train/loss", "eval/accuracy"} <= {tag for tag, _ in expected}
        assert scalars.keys() == expected.keys()
        for key, value in expected.items():
            assert scalars[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.slow
def test_resume_purges_events_after_the_restored_step(tmp_path):
    _common.run_fit(tmp_path, None, num_epochs=3)
    shutil.rmtree(tmp_path / "checkpoints" / "3")  # as if killed before epoch 3 was saved
    _common.run_fit(tmp_path, None, num_epochs=3)
    steps_per_epoch = 64 // _common.BATCH
    resumed = sorted((tmp_path / "tb").glob("events.out.tfevents.*"))[-1]
    marker = next(e for e in _events(resumed) if e.HasField("session_log"))
    assert marker.session_log.status == event_pb2.SessionLog.START
    assert marker.step == 2 * steps_per_epoch + 1
