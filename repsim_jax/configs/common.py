"""The shared config block: every key the library reads, with its default.

Each experiment config starts from :func:`get_base_config` and changes values only
(the schema is locked when loaded). Sections:

- top level: ``seeds`` (one seed: a single run; several: trained together under
  ``vmap``), ``num_epochs``, ``batch_size``, ``keep_last_batch`` (train on an epoch's last
  ``n % batch_size`` rows as one smaller step, as PyTorch's ``DataLoader`` does by default;
  False: dropped; rows only, not language models);
- ``data``: ``name`` (``spirals``, ``features``, ``text`` or a TFDS/local set), ``data_dir``,
  ``num_train``, ``num_test`` (0 = whole split; ``text``: sequences, 0 = all and a tenth held
  out), ``points_per_arm``, ``modality`` and ``ring_radii`` (spirals; ``()`` = the
  modality's held-out ring, interpolation 4–7, extrapolation 3–7),
  ``augment`` (crop/flip), ``seed`` (generation seed of local sets; the split seed of
  ``features``), ``path`` (the ``.npz`` of ``features``: ``features``, ``labels``,
  ``attributes``), ``normalization`` (image sets: ``dataset`` = the set's per-channel
  mean/std, ``unit`` = pixels/255 as torchvision's ``ToTensor``), ``context`` (``text``: tokens per
  training sequence, 0 = ``model.context``); ``text`` reads ``path`` (a UTF-8 text file, byte
  tokens, or a 1-D ``.npy`` of token ids; empty: a built-in synthetic text, see
  ``repsim_jax.lm.data``), or with ``source = "concepts"`` generates the concept language
  (``repsim_jax.lm.concept_language``: ``num_train + num_test`` sequences, ``seed``);
- ``model``: ``name`` (``mlp``, ``resnet18``, ``resnet50``, ``gpt2``), ``hidden``, ``dropout``,
  ``embedding_dim``, ``stem`` (ResNets: ``cifar`` 3×3 stem, or ``imagenet`` = torchvision's
  7×7 stem and max-pool), ``concept_bottleneck``, ``attribute_head`` (a bias-free
  attribute head on the embedding, trained on the data's attributes), ``init_from`` (a
  ``.npz`` of variables or a torchvision ``.pth`` the model starts from, e.g. ImageNet
  weights; see ``repsim_jax.adapters.torchvision_resnet``), ``init`` (``flax``: Flax's
  LeCun-normal kernels and zero biases; ``torch_default``, MLP models: PyTorch's
  ``U(±1/√fan_in)`` kernels and biases, the unembedding Xavier for every model but a plain
  cross-entropy classifier, as the authors' ``main.py``; ``repsim_jax.models.build_model``),
  ``dtype`` (compute dtype:
  ``float32`` or ``bfloat16``; parameters, optimiser state, loss and metrics stay float32);
  ``gpt2`` (a decoder-only LM, ``repsim_jax.lm.model``): ``vocab`` (0 = the data's
  vocabulary), ``context`` (positions), ``width``, ``depth`` (blocks), ``heads``,
  ``tied_head``, with ``dropout``; ``init_from`` may be a Hugging Face GPT-2 directory;
- ``optim``: ``name``, ``learning_rate``, ``schedule`` (``constant``/``reference``),
  ``warmup_epochs``, ``decay``;
- ``loss``: ``name`` (e.g. ``ce``, ``kl``, ``l2+procrustes``), ``ce_weight``,
  ``logit_weight``, ``feature_weight``, ``concept_weight``, ``concept_loss`` (the concept or
  attribute term: ``bce`` per concept, or ``softmax`` cross-entropy over one-hot rows, the
  authors' SUB attribute loss; ``repsim_jax.train.step``), ``temperature``,
  ``centered``, ``teacher_dim`` (set by the runner), ``vocab_chunk`` (language models: the
  vocabulary losses over chunks of this many tokens, 0 = all at once), ``layers`` (language
  models: mapped hidden states ``"i:j"``, student block i ↔ teacher block j, 0-based, either
  side may be ``final``; the feature term is the mean over these pairs and the report gives
  each pair's CKA and Procrustes distance; ``()`` = the final hidden states only);
- ``teacher``: ``workdir`` of a trained teacher (language models: or a Hugging Face GPT-2
  directory), ``mode`` (``cached``/``online``; language models are always distilled online);
- ``eval``: ``every`` (epochs), ``splits`` (reported where the data has them),
  ``num_pivots``, ``num_subsets``, ``pivot_seed`` (d_rep's
  pivots/subsets: every one when they fit in num_pivots × num_subsets, else a sample),
  ``cca_components`` (m_CCA over the top-k canonical correlations; 0 = all), ``curves`` (the
  report quantities, ``repsim_jax.evaluators.CURVE_METRICS`` names such as ``kl_divergence`` or
  ``authors/cca_score``, that training logs every ``every`` epochs on each of ``splits`` as
  ``eval/<split>/<name>`` in ``metrics.jsonl`` and TensorBoard; classifiers only; ``()`` = none,
  only the test split's accuracy, cross-entropy and agreement; the default set is cheap:
  d_rep, the CCA score and the rankings cost much more on large splits), ``evaluators`` (the
  named evaluators of ``repsim_jax.evaluators.EVALUATORS`` whose keys the reports and curves
  hold: ``prediction`` (always), ``agreement``, ``similarity``, ``ranking``, ``authors``);
- ``checkpoint``: ``every`` (epochs), ``keep``;
- ``mesh``: ``seeds``, ``data``: the device mesh's axis sizes (``0`` = default: a
  single run puts every device on ``data``, a group of S seeds ``gcd(S, devices)`` on
  ``seeds`` and the rest on ``data``; ``-1`` = every device the other axis leaves);
  with one device no mesh is built; ``fsdp`` (language models): the number of devices
  over which each parameter, its optimiser state and an online teacher's parameters are
  sharded (``repsim_jax.train.fsdp``; 1 = none; ``seeds × data`` share the devices it leaves);
- ``sweep``: ``losses``, ``seeds``, ``dims``;
- ``reproduce``: ``teacher_seeds`` (one teacher per seed, each with its own students),
  ``teacher_epochs``, ``student_epochs``, ``bound_every`` (epochs between
  the CCA–logit bound evaluations of the students), ``geometry_losses`` (the losses of
  ``reproduce geometry``), ``finetune_sizes`` (the training-set sizes N of
  ``reproduce finetune``), ``finetune_from`` (where its students start: ``scratch``, or
  ``checkpoint``, a second cross-entropy model of the teacher's size: the authors'
  ``--checkin`` mode).
"""

import ml_collections

from repsim_jax.errors import InputError


def get_base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seeds = (0,)
    c.num_epochs = 100
    c.batch_size = 128
    c.keep_last_batch = False
    c.data = ml_collections.ConfigDict(
        dict(
            name="spirals",
            data_dir="",
            num_train=0,
            num_test=0,
            points_per_arm=1000,
            modality="standard",
            ring_radii=(),
            augment=False,
            seed=0,
            path="",
            normalization="dataset",
            context=0,
            source="",
        )
    )
    c.model = ml_collections.ConfigDict(
        dict(
            name="mlp",
            hidden=(512, 512, 512),
            dropout=0.1,
            embedding_dim=6,
            stem="cifar",
            concept_bottleneck=False,
            attribute_head=False,
            init_from="",
            init="flax",
            dtype="float32",
            vocab=0,
            context=64,
            width=64,
            depth=2,
            heads=4,
            tied_head=True,
        )
    )
    c.optim = ml_collections.ConfigDict(
        dict(name="adam", learning_rate=1e-3, schedule="constant", warmup_epochs=0, decay=1.0)
    )
    c.loss = ml_collections.ConfigDict(
        dict(
            name="ce",
            ce_weight=0.0,
            logit_weight=1.0,
            feature_weight=1.0,
            concept_weight=1.0,
            concept_loss="bce",
            temperature=1.0,
            centered=True,
            teacher_dim=0,
            vocab_chunk=0,
            layers=(),
        )
    )
    c.teacher = ml_collections.ConfigDict(dict(workdir="", mode="cached"))
    c.eval = ml_collections.ConfigDict(
        dict(
            every=10,
            splits=("train", "test", "ood"),
            num_pivots=10,
            num_subsets=20,
            pivot_seed=0,
            cca_components=0,
            curves=("accuracy", "agreement", "kl_divergence", "logit_distance", "mean_cca"),
            evaluators=("prediction", "agreement", "similarity", "ranking", "authors"),
        )
    )
    c.checkpoint = ml_collections.ConfigDict(dict(every=10, keep=3))
    c.mesh = ml_collections.ConfigDict(dict(seeds=0, data=0, fsdp=1))
    c.sweep = ml_collections.ConfigDict(dict(losses=("kl", "l1", "l2"), seeds=(0, 1, 2), dims=(6,)))
    c.reproduce = ml_collections.ConfigDict(
        dict(
            teacher_seeds=(0,),
            teacher_epochs=100,
            student_epochs=100,
            bound_every=10,
            geometry_losses=("kl", "kl+procrustes", "kl+gram", "kl+cka", "kl+proj_mse"),
            finetune_sizes=tuple(range(70, 701, 70)),
            finetune_from="scratch",
        )
    )
    return c


def check_preset(preset: str, presets: tuple[str, ...]) -> None:
    """Raises ``InputError`` naming the presets when ``preset`` is not one of them."""
    if preset not in presets:
        raise InputError(f"unknown preset {preset!r}; choose one of {', '.join(presets)}")
