"""repsim_jax.authors against float64 NumPy transcriptions of the formulas as the authors'
code (bemigini/logit-distance-bounds-rep-sim, commit ddd5286) states them: explicit loops
over pivots, subsets, classes and bins, matrix inverses, the smoothed KL of their
evaluation scripts; and the CCA score against the exact (closed-form) limit of
scikit-learn's iterative fit."""

import jax
import numpy as np
import pytest

from repsim_jax import authors, experiment, metrics
from repsim_jax.config import experiment_config, with_values
from repsim_jax.errors import InputError

RTOL, CCA_RTOL = 1e-5, 1e-3


# --------------------------------------------------------------------------- references


def _loop_terms(f1, g1, f2, g2, pivots, subsets, power):
    """Per (pivot, subset): Σ_x ‖f₁(x) − A f₂(x)‖^power / (n·P·C), A = inv(L₁) L₂."""
    f1, g1, f2, g2 = (np.asarray(a, np.float64) for a in (f1, g1, f2, g2))
    pivots, subsets = np.asarray(pivots), np.asarray(subsets)
    n, count = len(f1), subsets.shape[0] * subsets.shape[1]
    terms = []
    for p, row in zip(pivots, subsets):
        for s in row:
            a = np.linalg.inv(g1[s] - g1[p]) @ (g2[s] - g2[p])
            residual = np.stack([f1[i] - a @ f2[i] for i in range(n)])
            terms.append(np.sum(np.linalg.norm(residual, axis=1) ** power) / (n * count))
    return terms


def reference_d_rep_eval(f1, g1, f2, g2, pivots, subsets):
    """utils/metrics.py::calculate_d_rep: the sum of the per-subset terms of unsquared norms."""
    return float(np.sum(_loop_terms(f1, g1, f2, g2, pivots, subsets, power=1)))


def reference_d_rep_train(f1, g1, f2, g2, pivots, subsets):
    """representation_dissimilarity.py::calculate_d_rep: the mean of the squared-norm terms."""
    return float(np.mean(_loop_terms(f1, g1, f2, g2, pivots, subsets, power=2)))


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def reference_kl_smoothed(logits_p, logits_q):
    """utils/metrics.py::KL_from_logits(p, q): both softmaxes + 1e-10, renormalised, then
    torch's kl_div(log p, q, batchmean) = (1/n) Σ q (log q − log p), i.e. KL(q‖p)."""
    p, q = (_softmax(np.asarray(z, np.float64)) + 1e-10 for z in (logits_p, logits_q))
    p, q = p / p.sum(-1, keepdims=True), q / q.sum(-1, keepdims=True)
    return float(np.sum(q * (np.log(q) - np.log(p))) / len(p))


def reference_kl(logits_p, logits_q):
    """posthoc_eval.py: KLDivLoss(batchmean, log_target)(log q, log p) = (1/n) Σ p (log p − log q)."""
    p, q = (_softmax(np.asarray(z, np.float64)) for z in (logits_p, logits_q))
    return float(np.sum(p * (np.log(p) - np.log(q))) / len(p))


def reference_calibration(probs, labels, n_bins=15):
    """multiclass_calibration: per class, Brier and the ECE over bins (e_i, e_{i+1}]; macro nanmean."""
    n, k = probs.shape
    edges = np.linspace(0, 1, n_bins + 1)
    briers, eces = [], []
    for c in range(k):
        y = (labels == c).astype(np.float64)
        p = probs[:, c]
        briers.append(np.mean((p - y) ** 2))
        ece = 0.0
        for i in range(n_bins):
            mask = (p > edges[i]) & (p <= edges[i + 1])
            if mask.sum() == 0:
                continue
            ece += abs(p[mask].mean() - y[mask].mean()) * mask.sum()
        eces.append(ece / n)
    return float(np.nanmean(eces)), float(np.nanmean(briers))


def _top_canonical_pair(x, y):
    """The first canonical directions of (x, y), unit norm, through the SVDs of both
    (rank-deficient sides use their row space, as a pseudo-inverse does)."""
    ux, sx, vxt = np.linalg.svd(x, full_matrices=False)
    uy, sy, vyt = np.linalg.svd(y, full_matrices=False)
    kx, ky = sx > sx[0] * 1e-10, sy > sy[0] * 1e-10
    a, _, bt = np.linalg.svd(ux[:, kx].T @ uy[:, ky])
    w, v = vxt[kx].T @ (a[:, 0] / sx[kx]), vyt[ky].T @ (bt[0] / sy[ky])
    return w / np.linalg.norm(w), v / np.linalg.norm(v)


def _iterated_canonical_pair(x, y, tol=1e-6, max_iter=500):
    """The same pair as scikit-learn's CCA reaches it: alternating least squares (w ∝ x⁺u,
    v ∝ y⁺t, u = yv, t = xw) from u = the first non-zero column of y, stopped once the
    squared change of w is below ``tol`` (its default 1e-6: a change of 1e-3 in norm)."""
    eps = np.finfo(np.float64).eps
    x_pinv, y_pinv = np.linalg.pinv(x), np.linalg.pinv(y)
    u = next(col for col in y.T if np.any(np.abs(col) > eps))
    w_old = None
    for _ in range(max_iter):
        w = x_pinv @ u
        w /= np.linalg.norm(w) + eps
        v = y_pinv @ (x @ w)
        v /= np.linalg.norm(v) + eps
        u = y @ v / (v @ v + eps)
        if w_old is not None and np.sum((w - w_old) ** 2) < tol:
            break
        w_old = w
    return w, v


def reference_cca_score(x, y, k=2, pair=_top_canonical_pair):
    """scikit-learn's CCA(k).fit(x, y).score(x, y) from its definition: columns centred and
    divided by their std (ddof=1); per component the first canonical pair (w, v) of the
    deflated (X, Y) (``pair``: exact, or iterated as scikit-learn does), scores t = Xw,
    u = Yv, X −= t tᵀX/tᵀt, Y −= u uᵀY/uᵀu; the prediction Σ_k t_k (Y_kᵀu_k/u_kᵀu_k)ᵀ
    rescaled, and the mean R² over y's columns."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    xk = (x - x.mean(0)) / x.std(0, ddof=1)
    yk = (y - y.mean(0)) / y.std(0, ddof=1)
    prediction = np.zeros_like(yk)
    for _ in range(k):
        w, v = pair(xk, yk)
        t, u = xk @ w, yk @ v
        xk = xk - np.outer(t, t @ xk / (t @ t))
        loading = u @ yk / (u @ u)
        yk = yk - np.outer(u, loading)
        prediction += np.outer(t, loading)
    prediction = prediction * y.std(0, ddof=1) + y.mean(0)
    r2 = 1 - np.sum((y - prediction) ** 2, 0) / np.sum((y - y.mean(0)) ** 2, 0)
    return float(np.mean(r2))


# --------------------------------------------------------------------------- data


def _models(rng, n=60, k=6, d_t=3, d_s=3):
    """(teacher, student) ``(embeddings, logits, unembeddings)`` of random related models."""
    f_t, g_t = rng.normal(size=(n, d_t)), rng.normal(size=(k, d_t))
    f_s = f_t @ rng.normal(size=(d_t, d_s)) + 0.3 * rng.normal(size=(n, d_s))
    g_s = rng.normal(size=(k, d_s))
    return (f_t, f_t @ g_t.T, g_t), (f_s, f_s @ g_s.T, g_s)


def _correlated(rng, n, d, rho):
    """Embeddings with canonical correlations ``rho`` (well separated: the iterative fit converges)."""
    z, e = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    x = z @ rng.normal(size=(d, d)) + 1.0
    y = (z * rho + e * np.sqrt(1 - rho**2)) @ rng.normal(size=(d, d)) - 2.0
    return x, y


# --------------------------------------------------------------------------- tests


# Shapes shared across tests (K = 6 labels, n = 60, every pivot and subset) so that the
# float64 kernels compile once per shape for the module.
@pytest.mark.parametrize("d_t, d_s", [(3, 3), pytest.param(2, 3, marks=pytest.mark.slow)])
def test_rep_dissimilarity_conventions_match_the_loops(d_t, d_s):
    rng = np.random.default_rng(d_t * 10 + d_s)
    (f_t, _, g_t), (f_s, _, g_s) = _models(rng, d_t=d_t, d_s=d_s)
    pivots, subsets = metrics.all_pivot_subsets(6, d_t)
    got = authors.rep_dissimilarity_eval(f_t, g_t, f_s, g_s, pivots, subsets)
    assert got == pytest.approx(reference_d_rep_eval(f_t, g_t, f_s, g_s, pivots, subsets), rel=RTOL)
    pivots, subsets = metrics.all_pivot_subsets(6, d_s)
    got = authors.rep_dissimilarity_train(f_s, g_s, f_t, g_t, pivots, subsets)
    assert got == pytest.approx(reference_d_rep_train(f_s, g_s, f_t, g_t, pivots, subsets), rel=RTOL)


def test_rep_dissimilarity_train_is_the_reference_with_roles_swapped_and_nothing_excluded():
    """The report's rep_dissimilarity_reference maps the student onto the teacher; the authors'
    training-time value maps the teacher onto the student: swapping the roles changes it."""
    (f_t, _, g_t), (f_s, _, g_s) = _models(np.random.default_rng(3))
    pivots, subsets = metrics.all_pivot_subsets(6, 3)
    count = subsets.shape[0] * subsets.shape[1]
    student_first = authors.rep_dissimilarity_train(f_s, g_s, f_t, g_t, pivots, subsets)
    teacher_first = authors.rep_dissimilarity_train(f_t, g_t, f_s, g_s, pivots, subsets)
    with jax.enable_x64(True):
        ours = float(metrics.rep_dissimilarity(f_t, g_t, f_s, g_s, pivots, subsets, squared=True, max_condition=1e300))
    assert teacher_first == pytest.approx(ours / count, rel=1e-10)
    assert abs(student_first - teacher_first) > 0.1 * teacher_first
    # the eval convention is an average of norms: by Jensen at most the root mean square
    eval_value = authors.rep_dissimilarity_eval(f_t, g_t, f_s, g_s, pivots, subsets)
    assert eval_value <= np.sqrt(teacher_first * count)


def test_a_singular_subset_is_refused_not_dropped():
    rng = np.random.default_rng(4)
    (f_t, _, _), (f_s, _, g_s) = _models(rng)
    g_t = rng.integers(-4, 5, (6, 3)).astype(np.float64)  # integers: the differences below are exact
    g_t[2] = 2 * g_t[1] - g_t[0]  # labels 0, 1, 2 on a line: L₁ is singular when {p} ∪ S ⊃ {0, 1, 2},
    pivots, subsets = metrics.all_pivot_subsets(6, 3)  # 3 subsets for p ∈ {0, 1, 2}, 1 for each other p: 12
    for convention in (authors.rep_dissimilarity_eval, authors.rep_dissimilarity_train):
        with pytest.raises(InputError, match="for 12 of 60"):  # 2 of the 12 have a rounded condition ~1e16
            convention(f_t, g_t, f_s, g_s, pivots, subsets)


def test_kl_keys_match_both_directions_and_differ():
    teacher, student = _models(np.random.default_rng(5))
    x64 = jax.config.read("jax_enable_x64")
    values, _ = authors.section(student, teacher, np.zeros(60, int))
    assert jax.config.read("jax_enable_x64") == x64  # float64 only inside the section
    t_logits, s_logits = teacher[1], student[1]
    assert values["kl_teacher_student"] == pytest.approx(reference_kl(t_logits, s_logits), rel=1e-10)
    assert values["kl_student_teacher"] == pytest.approx(reference_kl(s_logits, t_logits), rel=1e-10)
    # their evaluation scripts smooth both distributions by 1e-10: a relative change below RTOL here
    assert values["kl_student_teacher"] == pytest.approx(reference_kl_smoothed(t_logits, s_logits), rel=RTOL)
    assert abs(values["kl_student_teacher"] - values["kl_teacher_student"]) > 1e-3 * values["kl_teacher_student"]


def test_per_class_calibration_matches_the_loops_with_zeros_and_bin_edges():
    rng = np.random.default_rng(6)
    probs = _softmax(rng.normal(size=(200, 5)) * 3)
    probs[:20] = np.eye(5)[rng.integers(0, 5, 20)]  # exact zeros and ones
    on_edges = np.linspace(0, 1, 16)[rng.integers(1, 15, 40)]  # q exactly on a bin edge
    probs[20:60] = np.stack([on_edges, 1 - on_edges, *np.zeros((3, 40))], axis=1)
    labels = rng.integers(0, 5, 200)
    ece, brier = reference_calibration(probs, labels)
    assert authors.ece_per_class(probs, labels) == pytest.approx(ece, rel=RTOL)
    assert authors.brier_per_class(probs, labels) == pytest.approx(brier, rel=RTOL)


def test_per_class_calibration_closed_forms():
    labels = np.array([0, 1, 2, 1])
    one_hot = np.eye(3)[labels]
    assert authors.ece_per_class(one_hot, labels) == 0 and authors.brier_per_class(one_hot, labels) == 0
    # q = (0.8, 0.2) for every input, half the labels 0: |0.8 − 0.5| = |0.2 − 0.5| = 0.3 per class
    probs, labels = np.tile([0.8, 0.2], (4, 1)), np.array([0, 1, 0, 1])
    assert authors.ece_per_class(probs, labels) == pytest.approx(0.3)
    assert authors.brier_per_class(probs, labels) == pytest.approx((0.04 + 0.64) / 2)
    # q_1 = 0 lies in no bin (bins are open on the left): class 1 adds nothing, class 0 |1 − ½|
    probs, labels = np.array([[1.0, 0.0], [1.0, 0.0]]), np.array([0, 1])
    assert authors.ece_per_class(probs, labels) == pytest.approx(0.25)
    assert authors.brier_per_class(probs, labels) == pytest.approx(0.5)


@pytest.mark.parametrize("dim", [2, 3, 4, 6])
def test_cca_score_matches_the_fit_as_defined(dim):
    """Against the iteration with scikit-learn's stopping rule; with well-separated canonical
    correlations also against its exact limit (the stopping rule leaves errors up to ~1e-3)."""
    x, y = _correlated(np.random.default_rng(dim), 400, dim, np.linspace(0.95, 0.2, dim))
    got = authors.cca_score(x, y)
    assert got == pytest.approx(reference_cca_score(x, y, pair=_iterated_canonical_pair), rel=CCA_RTOL)
    assert got == pytest.approx(reference_cca_score(x, y), rel=CCA_RTOL)
    assert got != pytest.approx(authors.cca_score(y, x), rel=CCA_RTOL)  # the teacher goes first


def test_undefined_values_are_null_with_their_reasons():
    teacher, student = _models(np.random.default_rng(7), k=3)  # d_rep needs K >= d + 1 = 4
    values, skipped = authors.section(student, teacher, np.zeros(60, int))
    assert set(values) == set(authors.KEYS)
    for key in ("rep_dissimilarity_eval", "rep_dissimilarity_train"):
        assert values[key] is None and "too few labels" in skipped[f"authors.{key}"]
    assert set(skipped) == {"authors.rep_dissimilarity_eval", "authors.rep_dissimilarity_train"}
    with pytest.raises(InputError, match="2 components"):
        authors.cca_score(teacher[0][:, :1], student[0])


def test_teacher_own_section_has_its_calibration_and_null_pairwise_keys():
    teacher, _ = _models(np.random.default_rng(8))
    labels = np.random.default_rng(9).integers(0, 6, 60)
    values, skipped = authors.section(teacher, None, labels)
    ece, brier = reference_calibration(_softmax(teacher[1]), labels)
    assert values == pytest.approx(dict.fromkeys(authors.KEYS) | {"ece_per_class": ece, "brier_per_class": brier})
    assert skipped == {}


def test_bad_probabilities_and_labels_are_refused():
    with pytest.raises(InputError, match="labels must lie in"):
        authors.ece_per_class(np.full((2, 2), 0.5), np.array([0, 2]))
    with pytest.raises(InputError, match="in \\[0, 1\\]"):
        authors.brier_per_class(np.array([[1.5, -0.5]]), np.array([0]))


# --------------------------------------------------------------------------- a trained pair


@pytest.fixture(scope="module")
def trained_pair(tmp_path_factory):
    """A smoke teacher and an L2 student, 2 epochs each."""
    tiny = {"num_epochs": 2, "data.points_per_arm": 40}
    config = with_values(experiment_config("synthetic", "smoke"), tiny)
    teacher = experiment.train_and_evaluate(config, str(tmp_path_factory.mktemp("teacher")), progress=False)
    config = with_values(experiment_config("synthetic", "smoke"), {**tiny, "loss.name": "l2"})
    student = experiment.train_and_evaluate(config, str(tmp_path_factory.mktemp("l2")), teacher.model, progress=False)
    return teacher, student


def _arrays(run, x):
    embeddings, logits = run.model.outputs(x, run.built.data.preprocess)
    return tuple(np.asarray(a, np.float64) for a in (embeddings, logits, run.model.unembeddings))


@pytest.mark.slow
def test_trained_pair_report_matches_the_references(trained_pair):
    teacher, student = trained_pair
    splits = [name for name in student.reports[0] if name in student.built.data.splits]
    assert "test" in splits
    for split in splits:
        data = student.built.data.splits[split]
        (f_t, z_t, g_t), (f_s, z_s, g_s) = _arrays(teacher, data["x"]), _arrays(student, data["x"])
        report = student.reports[0][split]
        pivots, subsets = metrics.pivot_subsets(g_t.shape[0], g_t.shape[1], **report["pivot_subsets"]["options"])
        ece, brier = reference_calibration(_softmax(z_s), np.asarray(data["y"]))
        expected = {
            "rep_dissimilarity_eval": reference_d_rep_eval(f_t, g_t, f_s, g_s, pivots, subsets),
            "rep_dissimilarity_train": reference_d_rep_train(f_s, g_s, f_t, g_t, pivots, subsets),
            "kl_student_teacher": reference_kl_smoothed(z_t, z_s),
            "kl_teacher_student": reference_kl(z_t, z_s),
            "ece_per_class": ece,
            "brier_per_class": brier,
        }
        got = report["authors"]
        assert {k: got[k] for k in expected} == pytest.approx(expected, rel=RTOL)
        iterated = reference_cca_score(f_t, f_s, pair=_iterated_canonical_pair)
        assert got["cca_score"] == pytest.approx(iterated, rel=CCA_RTOL)
        assert teacher.reports[0][split]["authors"]["rep_dissimilarity_eval"] is None
