"""Training-step throughput: flowerkit's ``fit`` against the TensorFlow tutorial's, and variants.

Issue 14, item 2 ("training step"). Every leg trains the tutorial's CNN (the ``tutorial``
preset's network: Rescaling(1/255), Conv2D 16/32/64 + MaxPooling2D, Flatten, Dense(128),
Dense(classes)) at 180x180, batch 32, on flower_photos split as the tutorial splits it
(80/20, seed 123), for ``--epochs`` epochs (3), each leg in a fresh child process so that
process-wide settings (allocators, oneDNN, thread pools, the dtype policy) cannot leak
from one leg into the next:

``flowerkit``
    ``load_datasets(folder, split="keras", seed=123)`` and
    ``Classifier.from_preset("tutorial", class_names=..., seed=1).fit(data, epochs=E)``,
    with flowerkit's runtime settings (pooling CPU allocator, glibc malloc thresholds);
``flowerkit_bf16``
    the same with ``precision="bfloat16"`` (only on CPUs with AVX512_BF16 or AMX-BF16);
``default``
    the tutorial: ``image_dataset_from_directory(subset="both")``, ``.cache()
    .shuffle(1000).prefetch(AUTOTUNE)``, the tutorial's ``keras.Sequential`` network,
    ``compile(optimizer="adam", loss=SparseCategoricalCrossentropy(from_logits=True),
    metrics=["accuracy"])`` and ``model.fit(train, validation_data=val, epochs=E)``;
``xla``, ``bf16``, ``onednn_off``, ``threads``
    the tutorial's path with one change each: ``compile(..., jit_compile=True)``;
    ``mixed_bfloat16`` policy, last Dense in float32 (only on CPUs with AVX512_BF16 or
    AMX-BF16, otherwise skipped since the CPU would emulate bfloat16);
    ``TF_ENABLE_ONEDNN_OPTS=0``; intra-op threads = the cores of the affinity mask,
    inter-op threads = 1.

The tutorial legs run without flowerkit's runtime settings (the environment is the one
this script started with, before ``import flowerkit`` set its allocator default). Both
sides train with ``verbose=0``, so no progress bar runs in the timed loop.

A small Keras callback takes wall times: ``on_train_batch_begin`` -> ``on_train_batch_end``
for every training step (each includes fetching the batch from the pipeline) and
``on_epoch_begin`` -> ``on_epoch_end`` for every epoch (validation included). The first
epoch (decoding, tracing) is left out: images/s is 32 / the median step time of epochs
2..E, and the epoch time is the median wall time of epochs 2..E. With ``--repeats N`` every
leg runs N times (each repeat starts with the next leg) and the median of the repeats'
medians is reported. Ratios are images/s over the tutorial's ``default`` (the issue's goal
for ``flowerkit``: >= 1.0x). Every leg also records, from /proc/stat, the share of the
machine's CPU that other processes (and the hypervisor's steal) took during its measured
epochs ("others %"): a busy host changes every number, so run it on an idle machine.

FLOPs are counted analytically from the built model: a multiply-add is 2 FLOPs; per image a
Conv2D costs ``2*kh*kw*cin*cout*H_out*W_out`` and a Dense ``2*in*out`` (biases, ReLU,
pooling, rescaling and the optimizer update are left out); a training step is taken as 3x
the forward FLOPs (the backward pass ~2x the forward) for 32 images. The CPU's peak is
``cores x GHz x FLOPs/cycle/core`` with 64 fp32 FLOPs/cycle on AVX-512 CPUs (2 FMA units x
16 lanes x 2) and 32 with AVX2+FMA; GHz is /proc/cpuinfo's ``cpu MHz``, the reported (base)
frequency, not the turbo one. So the peak is approximate (a CPU with one AVX-512 FMA unit
per core has half of it, turbo clocks raise it), and for ``bf16`` the percentage is still
of the fp32 peak, although AVX512_BF16 and AMX can do many more bfloat16 FLOPs per cycle.

    python benchmarks/bench_train.py                      # every leg, 3 epochs, 1 repeat
    python benchmarks/bench_train.py --quick              # smoke: 40 photos/class, 2 epochs
    python benchmarks/bench_train.py --repeats 3 --epochs 4
    python benchmarks/bench_train.py --variants default,flowerkit

Prints a table (variant, img/s, ratio, GFLOP/s, % of peak) and the whole JSON, which also
goes to ``benchmarks/out/train-<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from child import run_child
from folders import subset
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "flower_photos"
BATCH = 32
QUICK_PER_CLASS = 40
VARIANTS = ("default", "xla", "bf16", "onednn_off", "threads", "flowerkit", "flowerkit_bf16")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")

_CHILD = r"""
import json, os, resource, statistics, sys, time

variant, data_dir, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
if variant.startswith("flowerkit"):
    import flowerkit as fk
import keras
import tensorflow as tf
from keras import layers

cores = len(os.sched_getaffinity(0))
if variant == "threads":  # before TensorFlow's first operation
    tf.config.threading.set_intra_op_parallelism_threads(cores)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def cpu_seconds():
    # (wall, this process's CPU, the whole machine's busy CPU incl. steal) in seconds
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    r = resource.getrusage(resource.RUSAGE_SELF)
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    return time.perf_counter(), r.ru_utime + r.ru_stime, busy / os.sysconf("SC_CLK_TCK")


class Timer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epoch_times, self.train_times, self.step_times = [], [], []
        self.first_step_waits, self.cpu = [], []

    def on_epoch_begin(self, epoch, logs=None):
        if len(self.epoch_times) == 1:  # the steady epochs start
            self.cpu.append(cpu_seconds())
        self.epoch_start = self.last_step = time.perf_counter()
        self.step_times.append([])

    def on_train_end(self, logs=None):
        self.cpu.append(cpu_seconds())

    def on_train_batch_begin(self, batch, logs=None):
        self.step_start = time.perf_counter()
        if not self.step_times[-1]:  # from the epoch's start to its first step
            self.first_step_waits.append(self.step_start - self.epoch_start)

    def on_train_batch_end(self, batch, logs=None):
        self.last_step = time.perf_counter()
        self.step_times[-1].append(self.last_step - self.step_start)

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_times.append(time.perf_counter() - self.epoch_start)
        self.train_times.append(self.last_step - self.epoch_start)


def forward_flops(model):
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * kh * kw * cin * cout * h * w
        elif isinstance(layer, layers.Dense):
            n_in, n_out = layer.kernel.shape
            total += 2 * n_in * n_out
    return int(total)


timer = Timer()
started = time.perf_counter()
if variant.startswith("flowerkit"):
    data = fk.load_datasets(data_dir, split="keras", seed=123)
    precision = "bfloat16" if variant == "flowerkit_bf16" else "float32"
    clf = fk.Classifier.from_preset("tutorial", class_names=data.class_names, seed=1,
                                    precision=precision)
    model = clf.model
    load_s = time.perf_counter() - started
    clf.fit(data, epochs=epochs, callbacks=[timer], verbose=0)
    from flowerkit.core import runtime
    malloc_tuned = runtime.tune_malloc()  # cached: fit already tuned it (or opted out)
else:
    if variant == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    train, val = keras.utils.image_dataset_from_directory(
        data_dir, validation_split=0.2, subset="both", seed=123, image_size=(180, 180),
        batch_size=32)
    num_classes = len(train.class_names)
    train = train.cache().shuffle(1000).prefetch(buffer_size=tf.data.AUTOTUNE)
    val = val.cache().prefetch(buffer_size=tf.data.AUTOTUNE)
    model = keras.Sequential([
        keras.Input(shape=(180, 180, 3)),
        layers.Rescaling(1.0 / 255),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dense(num_classes, dtype="float32" if variant == "bf16" else None),
    ])
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=variant == "xla",
    )
    load_s = time.perf_counter() - started
    model.fit(train, validation_data=val, epochs=epochs, callbacks=[timer], verbose=0)
    malloc_tuned = False

steady = [t for epoch in timer.step_times[1:] for t in epoch]
step_s = statistics.median(steady)
fwd = forward_flops(model)
(wall0, own0, busy0), (wall1, own1, busy1) = timer.cpu
capacity = (wall1 - wall0) * os.cpu_count()
print("RESULT " + json.dumps({
    "variant": variant,
    "step_s": step_s,
    "images_per_s": 32 / step_s,
    "epoch_s": statistics.median(timer.epoch_times[1:]),
    "epoch_times_s": timer.epoch_times,
    "train_times_s": timer.train_times,
    "first_step_wait_s": timer.first_step_waits,
    "steps_per_epoch": [len(e) for e in timer.step_times],
    "step_ms": [[round(1000 * t, 1) for t in epoch] for epoch in timer.step_times],
    "first_epoch_step_s": statistics.median(timer.step_times[0]),
    "own_cpu_share": (own1 - own0) / capacity,
    "other_cpu_share": max(0.0, (busy1 - busy0) - (own1 - own0)) / capacity,
    "setup_s": load_s,
    "forward_flops_per_image": fwd,
    "params": int(model.count_params()),
    "layers": [[type(x).__name__, list(x.kernel.shape) if hasattr(x, "kernel") else None]
               for x in model.layers if not isinstance(x, keras.layers.InputLayer)],
    "jit_compile": bool(getattr(model, "jit_compile", False)),
    "dtype_policy": keras.mixed_precision.global_policy().name,
    "cores": cores,
    "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
    "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
    "TF_CPU_ALLOCATOR_USE_BFC": os.environ.get("TF_CPU_ALLOCATOR_USE_BFC"),
    "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    "malloc_tuned": malloc_tuned,
}))
"""


def cpu_peak(cores: int) -> dict[str, Any]:
    """The CPU's fp32 peak from /proc/cpuinfo: cores x reported GHz x FLOPs/cycle/core."""
    mhz: list[float] = []
    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("cpu MHz"):
                mhz.append(float(line.split(":", 1)[1]))
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= flags else None
    ghz = statistics.mean(mhz) / 1000 if mhz else None
    gflops = cores * ghz * per_cycle if ghz and per_cycle else None
    return {
        "cores": cores,
        "ghz_reported": ghz,
        "fp32_flops_per_cycle_per_core": per_cycle,
        "gflops": gflops,
        "note": "GHz is /proc/cpuinfo 'cpu MHz' (reported, not turbo); 64 FLOPs/cycle "
        "assumes 2 AVX-512 FMA units, 32 is AVX2+FMA",
    }


def run_leg(
    variant: str, data: Path, epochs: int, base_env: Mapping[str, str], tmp: Path
) -> dict[str, Any]:
    """One leg in a fresh child process; a failing child gives ``{"error": ...}``."""
    env = dict(base_env, TF_CPP_MIN_LOG_LEVEL="3")
    env["FLOWERKIT_CACHE_DIR"] = tempfile.mkdtemp(prefix="cache-", dir=tmp)
    if variant == "onednn_off":
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    try:
        return run_child(_CHILD, variant, str(data), str(epochs), env=env)
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or "").strip().splitlines()[-5:]
        return {"variant": variant, "error": "\n".join(tail) or f"exit status {exc.returncode}"}


def summarise(
    runs: Sequence[dict[str, Any]], peak: float | None, default_rate: float | None
) -> dict[str, Any]:
    """Medians over the repeats of one variant, with its GFLOP/s and ratio."""
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"error": runs[0]["error"] if runs else "not run", "runs": list(runs)}
    step_s = statistics.median(r["step_s"] for r in ok)
    rate = BATCH / step_s
    step_flops = 3 * ok[0]["forward_flops_per_image"] * BATCH
    gflops = step_flops / step_s / 1e9
    return {
        "images_per_s": round(rate, 2),
        "step_ms": round(1000 * step_s, 1),
        "epoch_s": round(statistics.median(r["epoch_s"] for r in ok), 2),
        "other_cpu_share": round(max(r["other_cpu_share"] for r in ok), 3),
        "ratio_to_default": None if not default_rate else round(rate / default_rate, 3),
        "train_step_gflop": round(step_flops / 1e9, 3),
        "gflops": round(gflops, 2),
        "percent_of_peak": None if not peak else round(100 * gflops / peak, 1),
        "runs": list(runs),
    }


def table(summary: Mapping[str, dict[str, Any]], skipped: Mapping[str, str]) -> str:
    lines = [
        f"{'variant':<12}{'img/s':>9}{'ratio':>8}{'step ms':>9}{'epoch s':>9}"
        f"{'GFLOP/s':>9}{'% peak':>8}{'others %':>10}"
    ]
    for name, s in summary.items():
        if "error" in s:
            lines.append(f"{name:<12}  failed: {s['error'].splitlines()[-1]}")
            continue
        ratio = "-" if s["ratio_to_default"] is None else f"{s['ratio_to_default']:.2f}x"
        pct = "-" if s["percent_of_peak"] is None else f"{s['percent_of_peak']:.1f}"
        lines.append(
            f"{name:<12}{s['images_per_s']:>9.1f}{ratio:>8}{s['step_ms']:>9.0f}"
            f"{s['epoch_s']:>9.1f}{s['gflops']:>9.1f}{pct:>8}{100 * s['other_cpu_share']:>10.0f}"
        )
    lines += [f"{name:<12}  skipped: {why}" for name, why in skipped.items()]
    lines.append(
        "others %: the largest share of the machine's CPU that other processes (and the "
        "hypervisor's steal) took during a leg's measured epochs; above ~5% the figures are "
        "not clean"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of class folders")
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per leg (3; 2 with --quick)"
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"comma-separated, from {', '.join(VARIANTS)}",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: the first {QUICK_PER_CLASS} photos per class and 2 epochs",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    args = parser.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 3)
    if epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is not measured")
    chosen = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(chosen) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")

    # The children's environment, taken before describe() imports flowerkit (which sets
    # TF_CPU_ALLOCATOR_USE_BFC in this process): the tutorial's legs must not inherit it.
    base_env = dict(os.environ)
    info = describe()
    peak = cpu_peak(int(info["cores"]))
    skipped: dict[str, str] = {}
    for name in ("bf16", "flowerkit_bf16"):
        if name in chosen and not set(BF16_FLAGS) & set(info["flags"]):
            chosen.remove(name)
            skipped[name] = "the CPU would emulate bfloat16"
            print(f"{name}: skipped: the CPU would emulate bfloat16", flush=True)
    legs = tuple(chosen)
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in legs}
    with tempfile.TemporaryDirectory(prefix="flowerkit-train-") as tmp:
        data = subset(args.data, QUICK_PER_CLASS, Path(tmp) / "data") if args.quick else args.data
        for repeat in range(args.repeats):
            # Each repeat starts with another leg, so a drift of the host over a repeat
            # does not always land on the same leg.
            shift = repeat % len(legs) if legs else 0
            order = legs[shift:] + legs[:shift]
            for variant in order:
                result = run_leg(variant, data, epochs, base_env, Path(tmp))
                runs[variant].append(result)
                shown = (
                    f"failed: {result['error'].splitlines()[-1]}"
                    if "error" in result
                    else f"{result['images_per_s']:.1f} img/s, epoch {result['epoch_s']:.1f} s"
                )
                print(f"repeat {repeat + 1}/{args.repeats} {variant}: {shown}", flush=True)

    default_rate: float | None = None
    if "default" in runs and any("error" not in r for r in runs["default"]):
        default_rate = BATCH / statistics.median(
            r["step_s"] for r in runs["default"] if "error" not in r
        )
    summary = {v: summarise(runs[v], peak["gflops"], default_rate) for v in legs}
    notes = [
        "machine.TF_CPU_ALLOCATOR_USE_BFC and machine.malloc_tuned describe this parent "
        "process (describe() imports flowerkit); every run records its own settings"
    ]
    built = {v: next((r for r in rs if "error" not in r), None) for v, rs in runs.items()}
    fk_run, tu_run = built.get("flowerkit"), built.get("default")
    if fk_run and tu_run and fk_run["layers"] != tu_run["layers"]:
        notes.append("the flowerkit preset's layers differ from the tutorial's network")

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {
        "what": "training-step throughput, tutorial network at 180x180, batch 32 (issue 14)",
        "data": str(args.data),
        "quick": args.quick,
        "photos_per_class": QUICK_PER_CLASS if args.quick else None,
        "epochs": epochs,
        "repeats": args.repeats,
        "measured": "median train step of epochs 2..E (batch begin -> end); epoch wall time "
        "of epochs 2..E includes validation",
        "flops_convention": "multiply-add = 2 FLOPs; Conv2D 2*kh*kw*cin*cout*Hout*Wout, "
        "Dense 2*in*out per image; training step = 3 x forward x 32 images",
        "machine": info,
        "peak": peak,
        "skipped": skipped,
        "notes": notes,
        "variants": summary,
    }
    print("\n" + table(summary, skipped))
    for note in notes:
        print(f"note: {note}")
    print(
        f"\npeak {peak['gflops'] or 0:.1f} GFLOP/s = {peak['cores']} cores x "
        f"{peak['ghz_reported'] or 0:.2f} GHz (reported) x "
        f"{peak['fp32_flops_per_cycle_per_core']} FLOPs/cycle"
    )
    text = json.dumps(document, indent=2)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"train-{stamp}.json"
    path.write_text(text)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
