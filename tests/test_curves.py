"""Training curves: the report subset they compute, the inverse-variance weighting over
teachers, and ``repsim-jax curves`` on a CIFAR-shaped sweep (mock CIFAR-100) with the CE
baseline."""

import json
import math
import shutil

import numpy as np
import pytest

from repsim_jax import authors
from repsim_jax.cli import main
from repsim_jax.curves import weighted_point
from repsim_jax.errors import InputError
from repsim_jax.evaluate import CURVE_METRICS, Curves, split_report
from repsim_jax.testing import reference as ref


def _authors_weighting(groups):
    """Their per-observation form: Σ_t Σ_i x_ti / s_t² over Σ_t n_t / s_t², variance
    1 / Σ_t n_t / s_t² (figures/inverse_variance_weighted_average.py), in float64."""
    num = sum(np.sum(g) / np.var(g, ddof=1) for g in groups)
    den = sum(len(g) / np.var(g, ddof=1) for g in groups)
    return num / den, math.sqrt(1 / den)


def test_weighted_point_is_the_authors_weighting_with_stated_fallbacks():
    rng = np.random.default_rng(0)
    groups = [rng.normal(loc, scale, size) for loc, scale, size in [(1.0, 0.1, 5), (1.3, 0.5, 3), (0.8, 0.05, 4)]]
    mean, sigma, rule = weighted_point(groups)
    expected_mean, expected_sigma = _authors_weighting(groups)
    assert rule == "inverse-variance"
    assert mean == pytest.approx(expected_mean, rel=1e-12) and sigma == pytest.approx(expected_sigma, rel=1e-12)
    # the same point as m_t / v_t weights, v_t = s_t² / n_t the variance of teacher t's mean
    v = np.array([np.var(g, ddof=1) / len(g) for g in groups])
    m = np.array([np.mean(g) for g in groups])
    assert mean == pytest.approx(np.sum(m / v) / np.sum(1 / v), rel=1e-12)
    # one teacher: its mean and the standard error of its mean
    assert weighted_point(groups[:1])[:2] == pytest.approx((groups[0].mean(), groups[0].std(ddof=1) / 5**0.5))
    # a teacher whose seeds agree exactly, or one with a single seed (a null value dropped):
    # equal weights, σ = the standard error of the teacher means
    for odd in (np.full(4, 0.9), np.array([0.9, np.nan])):
        mean, sigma, rule = weighted_point([odd, groups[1]])
        means = np.array([0.9, groups[1].mean()])
        assert rule == "equal" and mean == pytest.approx(means.mean())
        assert sigma == pytest.approx(means.std(ddof=1) / 2**0.5)
    assert math.isnan(weighted_point([np.array([2.0])])[1])  # one teacher, one seed: no band
    assert weighted_point([np.array([np.nan])])[2] == "none"


def test_split_report_only_computes_what_the_curves_ask_with_the_full_reports_values():
    rng = np.random.default_rng(1)
    n, k, d = 60, 5, 3
    t_emb, s_emb = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    t_g, s_g = rng.normal(size=(k, d)), rng.normal(size=(k, d))
    t, s = (t_emb, t_emb @ t_g.T, t_g), (s_emb, s_emb @ s_g.T, s_g)
    labels = rng.integers(0, k, n)
    names = ("kl_divergence", "mean_cca", "authors/cca_score")
    part = split_report(s, t, labels, only=names)
    full = split_report(s, t, labels)
    # the full report's values (the engine without d_rep's subsets: equal up to rounding)
    for name in ("kl_divergence", "mean_cca"):
        assert part[name] == pytest.approx(full[name], rel=1e-6), name
    assert part["authors"] == {"cca_score": full["authors"]["cca_score"]}
    # and the float64 definitions
    assert part["kl_divergence"] == pytest.approx(ref.kl_divergence(t[1], s[1]), rel=1e-5)
    assert part["mean_cca"] == pytest.approx(ref.mean_cca(t_emb, s_emb), rel=1e-5)
    assert part["authors"] == {"cca_score": authors.cca_score(t_emb, s_emb)}
    assert not {"rep_dissimilarity", "linear_cka", "logit_distance", "ranking", "procrustes_distance"} & set(part)
    assert part["accuracy"] == np.mean(s[1].argmax(-1) == labels)  # prediction metrics always there
    with pytest.raises(InputError, match="eval.curves: unknown metric 'd_rep'"):
        Curves(("accuracy", "d_rep"), {})
    assert set(names) <= set(CURVE_METRICS)


CURVES = ("accuracy", "agreement", "kl_divergence", "logit_distance", "mean_cca", "authors/cca_score")
TINY = [
    "--config.data.num_train=16",
    "--config.data.num_test=16",
    "--config.model.name=mlp",
    "--config.model.hidden=(16,)",
    "--config.model.embedding_dim=8",
    "--config.batch_size=8",
    "--config.optim.name=adam",
    "--config.teacher.mode=cached",
    "--config.eval.every=1",
    "--config.eval.splits=('train','test')",
]


def _last(workdir, seed, key):
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    return [r for r in rows if r["seed"] == seed][-1][key]


@pytest.mark.slow
def test_cifar_shaped_sweep_with_ce_gives_curves_equal_to_the_reports_and_their_figures(tmp_path, capsys):
    """A ResNet-less CIFAR-100 run (an MLP on mock images, 16 per split): a teacher, then a
    sweep of ce (baseline), l2 and kl students, two seeds each. The second teacher of the
    figure is the same sweep copied under another teacher path (its students identical), so
    the weighted mean over the two teachers equals one teacher's mean and σ shrinks by √2."""
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=16):
        teacher = ["train", "--config=cifar100:students", f"--workdir={tmp_path}/t", "--config.num_epochs=1", "--quiet"]
        assert main([*teacher, *TINY]) == 0
        sweep = [
            "sweep",
            "--config=cifar100:students",
            f"--workdir={tmp_path}/teacher0",
            f"--config.teacher.workdir={tmp_path}/t",
            "--config.sweep.losses=('ce','l2','kl')",
            "--config.sweep.seeds=(0,1)",
            "--config.sweep.dims=(8,)",
            "--config.num_epochs=2",
            f"--config.eval.curves={CURVES}",
            *TINY,
        ]
        assert main(sweep) == 0
    capsys.readouterr()
    for cell in ("ce_d8", "l2_d8", "kl_d8"):
        for seed in (0, 1):
            report = json.loads((tmp_path / "teacher0" / cell / f"seed{seed}" / "report.json").read_text())
            for split in ("train", "test"):  # a curve's last point is the final report's number
                for name in CURVES:
                    section, _, key = name.rpartition("/")
                    want = report[split][section][key] if section else report[split][name]
                    assert _last(tmp_path / "teacher0" / cell, seed, f"eval/{split}/{name}") == want, (cell, name)

    copy = tmp_path / "teacher1"
    shutil.copytree(tmp_path / "teacher0", copy)
    for config_file in copy.glob("*/config.json"):
        config = json.loads(config_file.read_text())
        config["teacher"]["workdir"] = str(tmp_path / "t_copy")
        config_file.write_text(json.dumps(config))
    out = tmp_path / "figures"
    assert main(["curves", str(tmp_path / "teacher0"), str(copy), f"--out={out}"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["curves.json", "curves_l2_kl.png"]  # no l1 students
    data = json.loads((out / "curves.json").read_text())
    assert len(data["teachers"]) == 2 and set(data["series"]) == {"ce", "l2", "kl"}
    for loss in ("ce", "kl"):
        line = data["series"][loss]["test"]["d_logit"]
        values = [_last(tmp_path / "teacher0" / f"{loss}_d8", s, "eval/test/logit_distance") for s in (0, 1)]
        assert line["epochs"] == [1, 2] and line["rule"][-1] == "inverse-variance"
        assert line["mean"][-1] == pytest.approx(np.mean(values), rel=1e-12)
        assert line["sigma"][-1] == pytest.approx(np.std(values, ddof=1) / 2**0.5 / 2**0.5, rel=1e-9)
        squared = data["series"][loss]["test"]["d²_logit"]["mean"][-1]
        assert squared == pytest.approx(np.mean(np.square(values)), rel=1e-12)  # squared per student, then averaged

    assert main(["curves", str(tmp_path / "t"), f"--out={out}"]) == 2  # a teacher alone: no students
    assert "no student workdir" in capsys.readouterr().err
