"""Data pipeline throughput vs. what a train step consumes (issue 4).

Prepares a local ArrayRecord TFDS set of random CIFAR-shaped images (32x32x3
uint8, through ``tfds.data_source`` as for real CIFAR, minus PNG decoding), times
``read_split`` (the whole split into memory; training reads its devices' rows with the
same reader, ``read_rows``), ``ImageLoader``
at global batch 128 keeping uint8 and normalising to float32, the jitted in-graph
``crop_flip`` on a batch, and a jitted forward+backward+SGD step of a small CNN
(defined here) and of the project's CIFAR ResNet-18 on the same batch shape.
Reports images/s and the ratio loader (uint8) ÷ step (> 1: the loader keeps up).
Writes the "Data pipeline (issue 4)" section of benchmarks/RESULTS.md.

Run: ``python benchmarks/bench_data.py [--examples 10000] [--batches 40] [--no-write]``
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import tempfile
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tensorflow_datasets as tfds

from repsim_jax.data import DATASETS, ImageLoader, crop_flip, read_split

BATCH = 128
SECTION = "## Data pipeline (issue 4)"
RESULTS = pathlib.Path(__file__).with_name("RESULTS.md")


class BenchCifarShaped(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Random uint8 32x32x3 images with labels in 0..9 (seeded), ArrayRecord."""

    VERSION = tfds.core.Version("1.0.0")
    code_path = None  # no checksum-file lookup (see repsim_jax.data.local)
    NUM_EXAMPLES = 10_000

    def _info(self):
        return tfds.core.DatasetInfo(
            builder=self,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(32, 32, 3), dtype=np.uint8),
                    "label": tfds.features.Tensor(shape=(), dtype=np.int32),
                }
            ),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        rng = np.random.default_rng(0)
        for i in range(self.NUM_EXAMPLES):
            yield i, {"image": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), "label": np.int32(rng.integers(10))}


class SmallCNN(nn.Module):
    """conv32-conv32-pool-conv64-conv64-pool-dense128-dense10 (ReLU)."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        for width in (32, 64):
            x = nn.relu(nn.Conv(width, (3, 3))(x))
            x = nn.relu(nn.Conv(width, (3, 3))(x))
            x = nn.avg_pool(x, (2, 2), (2, 2))
        x = nn.relu(nn.Dense(128)(x.reshape(x.shape[0], -1)))
        return nn.Dense(10)(x)


def resnet18():
    """The project's CIFAR ResNet-18 classifier; logits only, BatchNorm in train mode."""
    from repsim_jax.models import Classifier, resnet18_encoder

    class ResNet18Logits(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            return Classifier(resnet18_encoder(128), 10)(x, train=train)[1]

    return ResNet18Logits()


def prepare_source(data_dir: str, num_examples: int):
    """The benchmark set's train split as a ``tfds`` ArrayRecord data source."""
    BenchCifarShaped.NUM_EXAMPLES = num_examples
    builder = BenchCifarShaped(data_dir=data_dir)
    builder.download_and_prepare(file_format="array_record")
    return builder.as_data_source(split="train")


def read_rate(source) -> float:
    """Images/s of ``read_split`` over the whole split (uint8, in order)."""
    start = time.perf_counter()
    read_split(source)
    return len(source) / (time.perf_counter() - start)


def pipeline_rate(source, normalise: bool, batches: int) -> float:
    """Images/s of a shuffled ``ImageLoader`` over ``batches`` batches, uint8 or normalised."""
    spec = DATASETS["cifar10"]
    stats = dict(mean=spec.mean, std=spec.std) if normalise else {}
    loader = ImageLoader(
        source, batch_size=BATCH, **stats, shuffle=True, drop_remainder=True, seed=0, process_index=0, process_count=1
    )
    next(loader)
    start = time.perf_counter()
    for _ in range(batches):
        next(loader)
    return batches * BATCH / (time.perf_counter() - start)


def crop_flip_rate(steps: int) -> float:
    """Images/s of the jitted ``crop_flip`` on a float32 batch of 128 (after compilation)."""
    x = jnp.asarray(np.random.default_rng(0).normal(size=(BATCH, 32, 32, 3)), jnp.float32)
    augment = jax.jit(crop_flip)
    jax.block_until_ready(augment(jax.random.key(0), x))
    start = time.perf_counter()
    for i in range(steps):
        out = augment(jax.random.key(i), x)
    jax.block_until_ready(out)
    return steps * BATCH / (time.perf_counter() - start)


def step_rate(model: nn.Module, steps: int) -> float:
    """Images/s of a jitted cross-entropy forward+backward+SGD step at batch 128."""
    x = jnp.asarray(np.random.default_rng(0).normal(size=(BATCH, 32, 32, 3)), jnp.float32)
    y = jnp.asarray(np.arange(BATCH) % 10, jnp.int32)
    variables = model.init(jax.random.key(0), x, train=False)
    params, state = variables["params"], {k: v for k, v in variables.items() if k != "params"}
    opt = optax.sgd(0.01, momentum=0.9)

    @jax.jit
    def step(params, state, opt_state, x, y):
        def loss_fn(p):
            logits, new_state = model.apply({"params": p, **state}, x, train=True, mutable=list(state))
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean(), new_state

        (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), new_state, opt_state, loss

    opt_state = opt.init(params)
    args = step(params, state, opt_state, x, y)  # compile
    jax.block_until_ready(args)
    start = time.perf_counter()
    for _ in range(steps):
        params, state, opt_state, loss = step(params, state, opt_state, x, y)
    jax.block_until_ready(loss)
    return steps * BATCH / (time.perf_counter() - start)


def machine() -> str:
    return (
        f"{platform.platform()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs visible, jax {jax.__version__} backend "
        f"{jax.default_backend()} ({jax.devices()[0].device_kind}); 1-min load average at "
        f"the end {os.getloadavg()[0]:.1f} (other jobs share the CPUs)"
    )


LOADER = "ImageLoader, uint8 (no mean/std)"


def report(rates: dict[str, float], steps: dict[str, float], args) -> str:
    lines = [
        SECTION,
        "",
        f"Machine: {machine()}.",
        f"Data: {args.examples} random 32x32x3 uint8 images in a local ArrayRecord TFDS set, "
        f"read through `tfds.data_source`: `read_split` (whole split, in order) and a shuffled "
        f"`ImageLoader` at global batch {BATCH}, {args.batches} timed batches; `crop_flip`: "
        f"jitted, in-graph, {args.steps * 10} timed float32 batches of {BATCH}; step: jitted "
        f"forward+backward+SGD, {args.steps} timed steps after compilation.",
        "",
        "| pipeline | images/s |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {rate:,.0f} |" for name, rate in rates.items()]
    lines += ["", f"| train step (batch 128) | images/s | {LOADER} ÷ step |", "|---|---:|---:|"]
    lines += [f"| {name} | {rate:,.0f} | {rates[LOADER] / rate:.1f} |" for name, rate in steps.items()]
    lines += [
        "",
        "A ratio above 1 means the single-threaded loader outpaces the step on this "
        "machine (the CPU is shared by both here, so in training they also compete). "
        "Training reads its rows once with the same reader (`read_rows`) and then batches, normalises "
        "and crops/flips in-graph; the loader rates bound streaming use. Real CIFAR adds "
        "PNG decoding per image (Pillow) on top of these numbers.",
        "",
        f"Rerun: `python benchmarks/bench_data.py --examples {args.examples} "
        f"--batches {args.batches} --steps {args.steps}`",
        "",
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    """Replace this section of RESULTS.md (up to the next '## ') or append it."""
    old = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = old.find(SECTION)
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + (old[end + 1 :] if end >= 0 else "")
    RESULTS.write_text(new)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--no-resnet", action="store_true", help="skip the ResNet-18 step")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        source = prepare_source(data_dir, args.examples)
        rates = {
            "read_split, uint8 (whole split)": read_rate(source),
            LOADER: pipeline_rate(source, False, args.batches),
            "ImageLoader, float32 normalised": pipeline_rate(source, True, args.batches),
        }
    rates["crop_flip, jitted (in-graph)"] = crop_flip_rate(args.steps * 10)
    steps = {"small CNN (benchmarks/bench_data.py)": step_rate(SmallCNN(), args.steps)}
    if not args.no_resnet:
        steps["ResNet-18 (repsim_jax.models)"] = step_rate(resnet18(), args.steps)
    text = report(rates, steps, args)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
