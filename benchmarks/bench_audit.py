"""The audit against planted problems: label flips, near-duplicates and outliers.

For each set of ``--sets`` (``flowers``: flower_photos, 3,670 photos in 5 classes;
``clothing``: 1,000 photos in 10 classes) a corrupted copy is built once under ``--work``
(again with ``--rebuild`` or another ``--seed``): every file copied with ``shutil.copy2``
into ``<work>/<set>/photos``, then, drawn with ``--seed`` and recorded in
``<work>/<set>/manifest.json`` (beside the copy, not in it):

- 5% of the photos moved to another, random class folder (label flips);
- near-duplicates of randomly chosen originals (never of a flipped photo), four kinds in
  equal numbers (flowers 25 each, clothing 10 each), each saved beside its original as
  ``dup_<kind>_<n>.jpg``: ``resized`` (half of each side, Lanczos, JPEG q=90), ``jpeg``
  (re-encoded at q=30), ``crop`` (85% of each side at a random offset, q=90) and
  ``bright`` (``ImageEnhance.Brightness`` x1.3 or x0.75, q=90);
- outliers: photos of the other set spread over the classes (30 clothing photos among the
  flowers, 10 flower photos among the clothing).

The audit of each copy runs first in a fresh process with empty caches (the check and the
embeddings computed: its wall time and peak RSS are its own), then again in that process
(cached). This process then audits the copy once more (cached) and scores the findings
against the manifest, recomputes the per-photo label and outlier scores (so thresholds
other than the audit's can be judged), trains the fastai-style baseline (``mobilenet_v2``
by its default recipe; every photo ranked by its loss on its given label, the top k
flagged, k = the audit's count; ``--no-baseline`` skips it), and audits the untouched
original folder. ``--scale 10000,30000,100000`` times ``nearest`` and ``copy_groups`` on
synthetic rows, one fresh process per size. Prints markdown tables; the raw figures go
to ``<work>/results-<UTC time>.json``.

    python benchmarks/bench_audit.py --sets flowers,clothing      # about 20 minutes on 2 cores
    python benchmarks/bench_audit.py --sets clothing --no-baseline --scale 10000,30000,100000
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SOURCES = {"flowers": SHARED / "data" / "flower_photos", "clothing": SHARED / "data" / "clothing"}
OTHER = {"flowers": "clothing", "clothing": "flowers"}
WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_no_top.weights.h5"
KINDS = ("resized", "jpeg", "crop", "bright")
COPIES = {"flowers": 25, "clothing": 10}  # per kind
OUTLIERS = {"flowers": 30, "clothing": 10}
FLIPS = 0.05
#: The photo flower_photos files under two labels.
KNOWN = ("roses/15922772266_1167a06620.jpg", "tulips/15922772266_1167a06620.jpg")
THRESHOLDS = (0.8, 0.9, 0.95)
QUANTILES = (0.0, 0.1, 0.5, 0.9, 1.0)
VALIDATION = 0.2
RESULT = "RESULT "
SUFFIXES = {".jpg", ".jpeg", ".png"}


# ---------------------------------------------------------------- helpers


def _module(name: str) -> ModuleType:
    """``flowerkit.auditing.<name>`` (or ``flowerkit.audit.<name>``, its earlier name)."""
    for package in ("flowerkit.auditing", "flowerkit.audit"):
        try:
            return importlib.import_module(f"{package}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name is None or not exc.name.startswith(package):
                raise
    raise ModuleNotFoundError(f"no flowerkit audit module {name!r}")


def _peak_mb() -> float:
    """This process's peak resident memory in MB: ``VmHWM``, which, unlike ``ru_maxrss``,
    does not start from the parent's peak in a child made by fork and exec."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _sources() -> str:
    """A digest of the audit package's sources (it changes while it is being tuned)."""
    folder = Path(_module("signatures").__file__ or "").parent
    files = sorted(folder.glob("*.py"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:12]


def _code() -> str:
    """Which audit code runs: its sources' digest and its tuned constants."""
    sig, out, lab = _module("signatures"), _module("outliers"), _module("labels")
    return (
        f"Audit code: sources {_sources()} ({sig.__name__.rsplit('.', 1)[0]}); copy THRESHOLD="
        f"{sig.THRESHOLD}, SIDE={sig.SIDE}, POSITIONS={sig.POSITIONS}; outlier SPREADS="
        f"{out.SPREADS}; label FOLDS={lab.FOLDS}"
    )


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.3f}"
    return str(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio(a: int, b: int) -> float:
    return a / b if b else float("nan")


def _photos(folder: Path) -> list[str]:
    """The photos in the class folders, as sorted relative paths."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.glob("*/*")
        if p.is_file() and p.suffix.lower() in SUFFIXES
    )


def _run_child(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    environ = dict(os.environ if env is None else env, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, __file__, *args], env=environ, capture_output=True, text=True
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith(RESULT)), None)
    if line is None:
        return {"error": f"exit {proc.returncode}: {proc.stderr[-1500:]}"}
    result: dict[str, Any] = json.loads(line[len(RESULT) :])
    return result


# ---------------------------------------------------------------- the corrupted copy


def _edit(image: Image.Image, kind: str, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """The edited copy and its JPEG quality."""
    w, h = image.size
    if kind == "resized":
        return image.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS), 90
    if kind == "jpeg":
        return image, 30
    if kind == "crop":
        cw, ch = round(w * 0.85), round(h * 0.85)
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return image.crop((x, y, x + cw, y + ch)), 90
    factor = float(rng.choice([1.3, 0.75]))
    return ImageEnhance.Brightness(image).enhance(factor), 90


def _flip(copy: Path, photos: list[str], rng: np.random.Generator) -> list[dict[str, str]]:
    classes = sorted({p.split("/")[0] for p in photos})
    candidates = [p for p in photos if p not in KNOWN]
    count = round(FLIPS * len(photos))
    flips: list[dict[str, str]] = []
    for i in rng.permutation(len(candidates)).tolist():
        if len(flips) == count:
            break
        given, name = candidates[i].split("/", 1)
        to = str(rng.choice([c for c in classes if c != given]))
        if (copy / to / name).exists():
            continue  # a photo of that name is already there
        os.replace(copy / candidates[i], copy / to / name)
        flips.append({"file": f"{to}/{name}", "original": candidates[i], "true": given})
    return flips


def _plant_copies(
    copy: Path, candidates: list[str], per_kind: int, rng: np.random.Generator
) -> list[dict[str, str]]:
    chosen = rng.choice(len(candidates), per_kind * len(KINDS), replace=False).tolist()
    planted = []
    for n, i in enumerate(chosen):
        kind, original = KINDS[n % len(KINDS)], candidates[i]
        with Image.open(copy / original) as opened:
            image = ImageOps.exif_transpose(opened).convert("RGB")
        edited, quality = _edit(image, kind, rng)
        rel = f"{original.split('/')[0]}/dup_{kind}_{n // len(KINDS)}.jpg"
        edited.save(copy / rel, "JPEG", quality=quality)
        planted.append({"file": rel, "original": original, "kind": kind})
    return planted


def _plant_outliers(
    copy: Path, name: str, count: int, rng: np.random.Generator
) -> list[dict[str, str]]:
    source = SOURCES[OTHER[name]]
    others = _photos(source)
    classes = sorted(d.name for d in copy.iterdir() if d.is_dir())
    planted = []
    for n, i in enumerate(rng.choice(len(others), count, replace=False).tolist()):
        rel = f"{classes[n % len(classes)]}/outlier_{n}_{Path(others[i]).name}"
        shutil.copy2(source / others[i], copy / rel)
        planted.append({"file": rel, "source": others[i]})
    return planted


def _build(name: str, work: Path, seed: int, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    """The corrupted copy of set ``name`` and its manifest (built when missing)."""
    base = work / name
    folder, record, marker = base / "photos", base / "manifest.json", base / ".bench_audit"
    if record.is_file() and folder.is_dir() and not rebuild:
        manifest: dict[str, Any] = json.loads(record.read_text())
        if manifest["seed"] == seed:
            return folder, manifest
    if folder.exists():
        if not marker.exists():
            raise SystemExit(f"{folder} exists and was not made by this script: not replaced")
        shutil.rmtree(folder)
        record.unlink(missing_ok=True)
    base.mkdir(parents=True, exist_ok=True)
    marker.touch()
    shutil.copytree(SOURCES[name], folder, copy_function=shutil.copy2)
    photos = _photos(folder)
    rng = np.random.default_rng(seed)
    flips = _flip(folder, photos, rng)
    moved = {f["original"] for f in flips}
    kept = [p for p in photos if p not in moved and p not in KNOWN]
    manifest = {
        "set": name,
        "source": str(SOURCES[name]),
        "seed": seed,
        "originals": len(photos),
        "flips": flips,
        "copies": _plant_copies(folder, kept, COPIES[name], rng),
        "outliers": _plant_outliers(folder, name, OUTLIERS[name], rng),
    }
    record.write_text(json.dumps(manifest, indent=1))
    return folder, manifest


# ---------------------------------------------------------------- child processes


def _child_audit(folder: str, run: str, seed: int) -> None:
    """Audit ``folder`` twice with empty caches under ``run``; print the timings."""
    os.environ["FLOWERKIT_CACHE_DIR"] = str(Path(run) / "flowerkit")
    import flowerkit as fk

    ticks: list[tuple[float, int]] = []

    def progress(done: int, total: int) -> None:
        ticks.append((time.perf_counter(), done))

    options: dict[str, Any] = {"weights": str(WEIGHTS), "seed": seed, "cache": Path(run) / "audit"}
    started = time.perf_counter()
    first = fk.audit(folder, progress=progress, **options)
    first_seconds = time.perf_counter() - started
    first_peak = _peak_mb()
    started = time.perf_counter()
    second = fk.audit(folder, **options)
    second_seconds = time.perf_counter() - started
    embedded, span = ticks[-1][1] - ticks[0][1], ticks[-1][0] - ticks[0][0]
    result = {
        "first_seconds": first_seconds,
        "first_report_seconds": first.seconds,
        "first_peak_mb": first_peak,
        "second_seconds": second_seconds,
        "second_report_seconds": second.seconds,
        "peak_mb": _peak_mb(),
        "photos": first.num_images,
        "embedded": ticks[-1][1],
        "photos_per_second": embedded / span if span > 0 else float("nan"),
        "same_findings": first.to_dict()["label_issues"] == second.to_dict()["label_issues"],
        "sources": _sources(),
    }
    print(RESULT + json.dumps(result), flush=True)


def _cap_memory() -> float:
    """Cap this process's address space (a MemoryError, not the OOM killer); in GB."""
    available = 16.0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable"):
                available = int(line.split()[1]) / 2**20
    cap = min(12.0, 0.6 * available)
    limit = int(cap * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    return cap


def _synthetic(n: int, seed: int) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
    """Unit rows of dim 1280 in clusters of about 100, and random 48x48 thumbnails."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 100), 1280), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    x = centres[rng.integers(0, len(centres), n)]
    x += 0.03 * rng.standard_normal((n, 1280), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x, rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)


def _child_scale(n: int, seed: int) -> None:
    """Time ``nearest`` and ``copy_groups`` on ``n`` synthetic rows; print the figures."""
    neighbours, duplicates = _module("neighbours"), _module("duplicates")
    result: dict[str, Any] = {"rows": n, "cap_gb": _cap_memory(), "import_peak_mb": _peak_mb()}
    x, thumbs = _synthetic(n, seed)
    result["data_peak_mb"] = _peak_mb()
    result["method"] = "exact" if n <= neighbours.EXACT_LIMIT else "faiss HNSW"
    try:
        started = time.perf_counter()
        near, _ = neighbours.nearest(x, 10)
        result["nearest_seconds"] = time.perf_counter() - started
        result["nearest_peak_mb"] = _peak_mb()
        started = time.perf_counter()
        groups = duplicates.copy_groups(thumbs, near)
        result["groups_seconds"] = time.perf_counter() - started
        result["groups_peak_mb"] = _peak_mb()
        result["groups"] = len(groups)
    except MemoryError as exc:
        result["error"] = f"MemoryError under the {result['cap_gb']:.1f} GB cap: {exc}"
        result["failed_peak_mb"] = _peak_mb()
    print(RESULT + json.dumps(result), flush=True)


# ---------------------------------------------------------------- what the audit saw


class View(NamedTuple):
    """Every photo of an audited folder, in the check's order, with its raw scores."""

    rel: list[str]
    position: dict[str, int]
    split: dict[str, str]
    pixels: list[str]
    label_scores: NDArray[np.float64]
    label_flagged: NDArray[np.bool_]
    outlier_scores: NDArray[np.float32]
    outlier_flagged: NDArray[np.bool_]
    outlier_limit: float
    thumbs: NDArray[np.uint8]
    near: NDArray[np.int64]
    near_sims: NDArray[np.float32]


def _view(folder: Path, cache: Path, seed: int) -> View:
    """The audit's per-photo scores, recomputed from its cached embeddings."""
    from flowerkit.data import check_images, split_files

    embeddings, neighbours = _module("embeddings"), _module("neighbours")
    labels, outliers = _module("labels"), _module("outliers")
    report = check_images(folder)
    files = list(report.files)
    seen = embeddings.embed(files, embeddings.default_embedder(str(WEIGHTS)), cache=cache)
    x = neighbours.unit_rows(seen.features)
    y = np.array([f.label for f in files], dtype=np.int64)
    k = len(report.class_names)
    label = labels.check_labels(x, y, k, seed)
    outlier = outliers.check_outliers(x, y, k)
    q1, q3 = np.quantile(outlier.scores, [0.25, 0.75])
    parts = split_files(files, VALIDATION, seed)
    rel = [f.key for f in files]
    near, sims = neighbours.nearest(x, 10)
    return View(
        rel,
        {r: i for i, r in enumerate(rel)},
        {
            f.key: side
            for side, part in zip(("train", "validation"), parts, strict=True)
            for f in part
        },
        [f.pixel_sha256 for f in files],
        label.scores,
        label.flagged,
        outlier.scores,
        outlier.flagged,
        float(q3 + outliers.SPREADS * (q3 - q1)),
        seen.thumbs,
        near,
        sims,
    )


def _rel(path: Path, folder: Path) -> str:
    return Path(path).relative_to(folder).as_posix()


# ---------------------------------------------------------------- label errors


def _baseline(folder: Path, seed: int) -> dict[str, Any]:
    """fastai-style top losses: every photo's loss on its given label under a
    ``mobilenet_v2`` trained by its recipe on the folder."""
    import flowerkit as fk

    started = time.perf_counter()
    data = fk.load_datasets(folder, image_size=160, seed=seed)
    clf = fk.Classifier.from_preset(
        "mobilenet_v2", class_names=data.class_names, weights=str(WEIGHTS), seed=seed
    )
    clf.fit(data, verbose=0)
    files = [*data.train_files, *data.validation_files]
    labels = np.array([*data.train_labels, *data.validation_labels])
    probabilities = np.concatenate(
        [
            clf.predict_proba(
                np.stack([fk.load_image(f, clf.image_size) for f in files[i : i + 64]])
            )
            for i in range(0, len(files), 64)
        ]
    )
    given = probabilities[np.arange(len(files)), labels]
    held = np.arange(len(files)) >= len(data.train_files)
    right = probabilities.argmax(axis=1) == labels
    # The audit with this model: its accuracy with and without the leaked validation photos.
    with tempfile.TemporaryDirectory() as cache:
        effect = fk.audit(folder, clf, seed=seed, cache=cache).leak_effect
    return {
        "leak_effect": None if effect is None else effect.to_dict(),
        "loss": {
            _rel(f, folder): float(-np.log(max(p, 1e-12)))
            for f, p in zip(files, given, strict=True)
        },
        "seconds": time.perf_counter() - started,
        "validation_accuracy": float(right[held].mean()),
    }


LABEL_HEADERS = (
    "method", "flagged", "flips found", "precision", "recall", "flagged not planted",
    "... planted outliers", "... planted copies or their originals",
    "... also flagged on the untouched folder",
)  # fmt: skip
KIND_HEADERS = (
    "kind", "planted", "grouped with original", "recall", "original among 10 nearest",
    "score min", "score p10", "score median", "across split", "reported as leak",
    "leak fraction",
)  # fmt: skip
GROUP_HEADERS = (
    "groups", "leaks", "exact-copy groups", "false groups", "per 1,000 distinct photos",
    "planted groups with foreign members", "distinct photos",
)  # fmt: skip
PAIR_HEADERS = ("pairs", "median", "p99", "p99.9", "max", "at or above threshold", "threshold")
OUTLIER_HEADERS = (
    "planted", "flagged", "planted flagged", "recall (flagged)", "flagged not planted",
    "recall in top-k (k = planted)", "planted also flagged as label issues",
)  # fmt: skip
UNTOUCHED_HEADERS = (
    "photos", "label issues", "groups", "leaks", "outliers",
    "known two-label photo in one group", "seconds (cached)",
)  # fmt: skip
LIMIT_HEADERS = ("limit", "value", "planted flagged", "others flagged")
LIMITS_NOTE = "The audit's score (1 - best similarity to a class mean) at other limits:"
KNN_NOTE = "Another score, 1 - mean similarity to the 10 nearest photos, at the same rules:"
TIME_HEADERS = ("audit", "wall seconds", "report.seconds", "peak RSS MB (process so far)")
SCALE_HEADERS = (
    "rows", "nearest", "nearest s", "copy_groups s", "peak MB after imports",
    "... with the data", "... after nearest", "... after copy_groups", "groups / error",
)  # fmt: skip


def _label_row(
    method: str, flagged: set[str], manifest: dict[str, Any], original: set[str] | None
) -> list[object]:
    flips = {f["file"] for f in manifest["flips"]}
    outliers = {o["file"] for o in manifest["outliers"]}
    copies = {c["file"] for c in manifest["copies"]} | {c["original"] for c in manifest["copies"]}
    hit, other = flagged & flips, flagged - flips
    also = "-" if original is None else len(other & original)
    precision, recall = _ratio(len(hit), len(flagged)), _ratio(len(hit), len(flips))
    found = [len(flagged), len(hit), precision, recall, len(other)]
    return [method, *found, len(other & outliers), len(other & copies), also]


def _label_table(
    report: Any, view: View, manifest: dict[str, Any], extra: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    folder = Path(report.directory)
    flagged = {_rel(i.file, folder) for i in report.label_issues}
    original = extra.get("original_flags")
    n = len(manifest["flips"])
    chosen: list[tuple[str, set[str]]] = [("audit (default)", flagged)]
    for t in THRESHOLDS:
        chosen.append(
            (f"audit score > {t}", {view.rel[i] for i in np.flatnonzero(view.label_scores > t)})
        )
    order = np.argsort(-view.label_scores, kind="stable")
    chosen.append(("audit top-N by score (N = flips)", {view.rel[i] for i in order[:n]}))
    if extra.get("baseline") is not None:
        losses = extra["baseline"]["loss"]
        ranked = sorted(losses, key=lambda r: (-losses[r], r))
        chosen.append(("baseline top-k losses (k = audit's)", set(ranked[: len(flagged)])))
        chosen.append(("baseline top-N losses (N = flips)", set(ranked[:n])))
    rows = [_label_row(method, files, manifest, original) for method, files in chosen]
    same = flagged == {view.rel[i] for i in np.flatnonzero(view.label_flagged)}
    raw = [dict(zip(LABEL_HEADERS, r, strict=True)) for r in rows]
    return _table(LABEL_HEADERS, rows), {"rows": raw, "recomputed_flags_match": same}


# ---------------------------------------------------------------- near-duplicates


def _pair_scores(view: View, pairs: Sequence[tuple[int, int]]) -> NDArray[np.float32]:
    scores: NDArray[np.float32] = _module("signatures").copy_scores(view.thumbs, list(pairs))
    return scores


def _copies_found(report: Any, view: View, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """Each planted copy: its copy score with its original, and what the audit made of it."""
    folder = Path(report.directory)
    group_of = {_rel(f, folder): n for n, g in enumerate(report.duplicate_groups) for f in g.files}
    pairs = [(view.position[c["file"]], view.position[c["original"]]) for c in manifest["copies"]]
    scores = _pair_scores(view, pairs).tolist()
    found = []
    for c, (a, b), s in zip(manifest["copies"], pairs, scores, strict=True):
        n = group_of.get(c["file"])
        found.append(
            {
                **c,
                "score": s,
                "grouped": n is not None and n == group_of.get(c["original"]),
                "candidate": bool(b in view.near[a] or a in view.near[b]),
                "cross": view.split[c["file"]] != view.split[c["original"]],
                "leak": n is not None and report.duplicate_groups[n].leak,
            }
        )
    return found


def _kind_rows(found: list[dict[str, Any]]) -> list[list[object]]:
    rows: list[list[object]] = []
    for kind in KINDS:
        mine = [f for f in found if f["kind"] == kind]
        s = np.array([f["score"] for f in mine])
        grouped = sum(f["grouped"] for f in mine)
        cross = [f for f in mine if f["cross"]]
        leaks = sum(f["grouped"] and f["leak"] for f in cross)
        candidates = sum(f["candidate"] for f in mine)
        scores = [float(s.min()), float(np.quantile(s, 0.1)), float(np.median(s))]
        rows.append([kind, len(mine), grouped, _ratio(grouped, len(mine)), candidates, *scores])
        rows[-1] += [len(cross), leaks, _ratio(leaks, len(cross))]
    return rows


def _false_groups(report: Any, view: View, manifest: dict[str, Any]) -> dict[str, Any]:
    folder = Path(report.directory)
    planted = {c["file"] for c in manifest["copies"]}
    false: list[dict[str, Any]] = []
    impure: list[dict[str, Any]] = []
    exact = 0
    for g in report.duplicate_groups:
        files = [_rel(f, folder) for f in g.files]
        if set(files) & planted:
            families = {c["original"] for c in manifest["copies"] if c["file"] in files}
            foreign = sorted(set(files) - planted - families)
            if foreign:
                impure.append({"files": files, "foreign": foreign, "score": g.score})
            continue
        if len({view.pixels[view.position[f]] for f in files}) == 1:
            exact += 1
            continue
        false.append({"files": files, "score": g.score, "splits": list(g.splits)})
    distinct = len(view.rel) - len(planted)
    return {
        "groups": len(report.duplicate_groups),
        "leaks": len(report.leaks),
        "exact": exact,
        "false": false,
        "impure": impure,
        "distinct": distinct,
        "false_per_1000": 1000 * len(false) / distinct,
    }


def _other_pairs(view: View, manifest: dict[str, Any]) -> list[object]:
    """Copy scores of every nearest-neighbour pair that is neither planted nor exact."""
    planted = {c["file"] for c in manifest["copies"]} | {c["original"] for c in manifest["copies"]}
    pairs = {
        (min(i, j), max(i, j))
        for i in range(len(view.rel))
        for j in view.near[i].tolist()
        if view.rel[i] not in planted
        and view.rel[j] not in planted
        and view.pixels[i] != view.pixels[j]
    }
    s = _pair_scores(view, sorted(pairs))
    threshold = float(_module("signatures").THRESHOLD)
    q = np.quantile(s, [0.5, 0.99, 0.999])
    return [len(s), *q.tolist(), float(s.max()), int((s >= threshold).sum()), threshold]


def _duplicate_section(
    report: Any, view: View, manifest: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    found = _copies_found(report, view, manifest)
    rows = _kind_rows(found)
    summary = _false_groups(report, view, manifest)
    pairs = _other_pairs(view, manifest)
    counts = [summary[k] for k in ("groups", "leaks", "exact")] + [len(summary["false"])]
    counts += [summary["false_per_1000"], len(summary["impure"]), summary["distinct"]]
    out = [_table(KIND_HEADERS, rows), "", _table(GROUP_HEADERS, [counts]), ""]
    out += ["Copy scores of the other nearest-neighbour pairs (neither planted nor identical):"]
    out += ["", _table(PAIR_HEADERS, [pairs])]
    if summary["false"]:
        out += ["", "False groups (first 15):", ""]
        out += [
            f"- {g['score']:.3f} {'/'.join(g['splits'])}: " + ", ".join(g["files"])
            for g in summary["false"][:15]
        ]
    if summary["impure"]:
        out += ["", "Planted groups with foreign members:", ""]
        out += [
            f"- {g['score']:.3f}: {len(g['files'])} files, foreign: " + ", ".join(g["foreign"][:12])
            for g in summary["impure"]
        ]
    return "\n".join(out), {"kinds": rows, "copies": found, **summary, "other_pairs": pairs}


# ---------------------------------------------------------------- outliers


def _limit_rows(scores: NDArray[np.floating], mask: NDArray[np.bool_]) -> list[list[object]]:
    """Planted outliers found and other photos flagged at several candidate limits."""
    from sklearn.metrics import roc_auc_score

    q1, q3 = np.quantile(scores, [0.25, 0.75])
    limits = {f"q3 + {k} IQR": q3 + k * (q3 - q1) for k in (1.5, 2.0, 3.0)}
    limits.update({f"p{q}": float(np.quantile(scores, q / 100)) for q in (99, 99.5)})
    top = np.argsort(-scores, kind="stable")[: int(mask.sum())]
    rows: list[list[object]] = []
    for name, limit in limits.items():
        flagged = scores > limit
        rows.append([name, float(limit), int((flagged & mask).sum()), int((flagged & ~mask).sum())])
    rows.append(
        ["(AUROC; recall in top-k)", float(roc_auc_score(mask, scores)), int(mask[top].sum()), "-"]
    )
    return rows


def _outlier_section(
    report: Any, view: View, manifest: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    folder = Path(report.directory)
    planted = {o["file"] for o in manifest["outliers"]}
    flagged = {_rel(o.file, folder) for o in report.outliers}
    issues = {_rel(i.file, folder) for i in report.label_issues}
    order = np.argsort(-view.outlier_scores, kind="stable")
    top = {view.rel[i] for i in order[: len(planted)]}
    hit = len(flagged & planted)
    row = [len(planted), len(flagged), hit, _ratio(hit, len(planted)), len(flagged - planted)]
    row += [_ratio(len(top & planted), len(planted)), len(planted & issues)]
    mask = np.array([r in planted for r in view.rel])
    quantiles = [
        [name, *np.quantile(view.outlier_scores[m], QUANTILES).tolist()]
        for name, m in (("planted", mask), ("not planted", ~mask))
    ]
    spreads = _module("outliers").SPREADS
    limit = f"Outlier scores (flagged above q3 + {spreads} IQR = {view.outlier_limit:.4f}):"
    quantile_table = _table(("photos", "min", "p10", "median", "p90", "max"), quantiles)
    limits = _limit_rows(view.outlier_scores, mask)
    knn = _limit_rows(1.0 - view.near_sims.mean(axis=1), mask)
    parts = [_table(OUTLIER_HEADERS, [row]), limit, quantile_table, LIMITS_NOTE]
    parts += [_table(LIMIT_HEADERS, limits), KNN_NOTE, _table(LIMIT_HEADERS, knn)]
    text = "\n\n".join(parts)
    figures = {"row": row, "quantiles": quantiles, "limit": view.outlier_limit}
    return text, {**figures, "limits": limits, "knn_limits": knn}


# ---------------------------------------------------------------- one set


def _untouched(name: str, run: Path, seed: int) -> dict[str, Any]:
    """The audit of the original folder (read-only; embeddings from the run's cache)."""
    import flowerkit as fk

    source = SOURCES[name]
    report = fk.audit(source, weights=str(WEIGHTS), seed=seed, cache=run / "audit")
    groups = {_rel(f, source): n for n, g in enumerate(report.duplicate_groups) for f in g.files}
    known = "-"
    if name == "flowers":
        known = "yes" if groups.get(KNOWN[0], -1) == groups.get(KNOWN[1], -2) else "NO"
    counts: list[object] = [report.num_images, len(report.label_issues)]
    counts += [len(report.duplicate_groups)]
    counts += [len(report.leaks), len(report.outliers), known, report.seconds]
    return {
        "counts": counts,
        "issues": [
            [n + 1, _rel(i.file, source), i.given, i.suggested, i.score, i.split]
            for n, i in enumerate(report.label_issues[:30])
        ],
        "groups": [
            [g.score, "/".join(g.splits), ", ".join(_rel(f, source) for f in g.files)]
            for g in report.duplicate_groups
        ],
        "outliers": [[_rel(o.file, source), o.class_name, o.score] for o in report.outliers],
        "flags": sorted(_rel(i.file, source) for i in report.label_issues),
    }


def _untouched_text(untouched: dict[str, Any]) -> str:
    return "\n".join(
        [
            _table(UNTOUCHED_HEADERS, [untouched["counts"]]),
            "",
            "First 30 label issues (for a person to review):",
            "",
            _table(("#", "file", "given", "suggested", "score", "split"), untouched["issues"]),
            "",
            "Near-duplicate groups:",
            "",
            _table(("score", "splits", "files"), untouched["groups"]),
            "",
            "Outliers:",
            "",
            _table(("file", "class", "score"), untouched["outliers"]),
        ]
    )


def _time_section(child: dict[str, Any], cached: float) -> str:
    if "error" in child:
        return "first audit failed: " + str(child["error"])
    first = [child[k] for k in ("first_seconds", "first_report_seconds", "first_peak_mb")]
    second = [child[k] for k in ("second_seconds", "second_report_seconds", "peak_mb")]
    rows = [
        ["first (fresh process, empty caches)", *first],
        ["second (same process, cached)", *second],
        ["third (benchmark process, cached)", cached, cached, "-"],
    ]
    return "\n".join(
        [
            _table(TIME_HEADERS, rows),
            "",
            f"{child['photos']} photos, {child['embedded']} embedded in the first audit at "
            f"{child['photos_per_second']:.1f} photos/s (after the first batch); second "
            f"audit's label issues identical to the first's: {child['same_findings']}; "
            f"audit sources in that process: {child.get('sources')}",
        ]
    )


def _measure(name: str, args: argparse.Namespace, run: Path) -> dict[str, Any]:
    """Build, audit (in a child, then here) and score one set; the figures and texts."""
    import flowerkit as fk

    folder, manifest = _build(name, args.work, args.seed, args.rebuild)
    child = _run_child("--child-audit", str(folder), str(run), str(args.seed))
    os.environ["FLOWERKIT_CACHE_DIR"] = str(run / "flowerkit")
    started = time.perf_counter()
    report = fk.audit(folder, weights=str(WEIGHTS), seed=args.seed, cache=run / "audit")
    cached = time.perf_counter() - started
    view = _view(folder, run / "audit", args.seed)
    untouched = _untouched(name, run, args.seed)
    extra: dict[str, Any] = {"original_flags": set(untouched["flags"])}
    if args.baseline:
        extra["baseline"] = _baseline(folder, args.seed)
    labels_text, labels = _label_table(report, view, manifest, extra)
    dups_text, dups = _duplicate_section(report, view, manifest)
    outliers_text, outliers = _outlier_section(report, view, manifest)
    if not labels["recomputed_flags_match"]:
        labels_text += "\n\nWARNING: the recomputed flags differ from the report's."
    baseline = extra.get("baseline")
    if baseline is not None:
        labels_text += (
            f"\n\nBaseline: mobilenet_v2 trained in {baseline['seconds']:.0f} s; validation "
            f"accuracy on the given labels {baseline['validation_accuracy']:.3f}. The audit "
            f"with this model, its validation accuracy with and without the leaked photos: "
            f"{baseline['leak_effect']}."
        )
        baseline = {k: v for k, v in baseline.items() if k != "loss"}
    head = (
        f"## {name}: {manifest['originals']} originals, {len(manifest['flips'])} flips, "
        f"{len(manifest['copies'])} planted copies, {len(manifest['outliers'])} planted "
        f"outliers ({len(view.rel)} photos in {folder})"
    )
    texts = {"head": head, "time": _time_section(child, cached), "labels": labels_text}
    texts.update(dups=dups_text, outliers=outliers_text, untouched=_untouched_text(untouched))
    figures = {"child": child, "cached_seconds": cached, "labels": labels, "duplicates": dups}
    figures.update(outliers=outliers, untouched=untouched, baseline=baseline)
    return {"texts": texts, "figures": figures, "flips": len(manifest["flips"])}


def _one_set(name: str, args: argparse.Namespace, run: Path) -> dict[str, Any]:
    measured = _measure(name, args, run)
    t = measured["texts"]
    sections = [
        t["head"],
        "### Time and memory",
        t["time"],
        f"### Label errors (planted flips: {measured['flips']})",
        t["labels"],
        "### Near-duplicates",
        t["dups"],
        "### Outliers",
        t["outliers"],
        f"### The untouched original ({SOURCES[name]})",
        t["untouched"],
    ]
    print("\n\n".join(sections) + "\n", flush=True)
    figures: dict[str, Any] = measured["figures"]
    return figures


# ---------------------------------------------------------------- scaling


def _scale(sizes: list[int], seed: int, throughput: tuple[str, float] | None) -> dict[str, Any]:
    results = [_run_child("--child-scale", str(n), str(seed)) for n in sizes]
    rows: list[list[object]] = []
    for n, r in zip(sizes, results, strict=True):
        if "method" not in r:
            rows.append([n, "child failed: " + str(r.get("error", ""))[-300:], "", "", "", "", ""])
            continue
        times = [r.get("nearest_seconds", float("nan")), r.get("groups_seconds", float("nan"))]
        after = r.get("groups_peak_mb", r.get("failed_peak_mb"))
        peaks = [r["import_peak_mb"], r["data_peak_mb"], r.get("nearest_peak_mb"), after]
        rows.append([n, r["method"], *times, *peaks, r.get("error", r.get("groups"))])
    print("## Scaling: nearest neighbours and copy groups on synthetic rows\n")
    print(_table(SCALE_HEADERS, rows))
    if throughput is not None:
        source, rate = throughput
        print(
            f"\nEmbedding throughput measured on {source}: {rate:.1f} photos/s -> 100,000 "
            f"photos in about {100_000 / rate / 60:.0f} minutes (embedding alone; the check "
            "decodes every file once more)."
        )
    return {"rows": results, "throughput": throughput}


# ---------------------------------------------------------------- main


def _machine() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return [
        f"Machine: {cpu}, {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} available)",
        f"Date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        "Command: " + shlex.join([Path(sys.executable).name, *sys.argv]),
    ]


def _throughput(work: Path, results: dict[str, Any]) -> tuple[str, float] | None:
    """The flowers embedding rate of this run, else of the last saved run that had one
    (named with its date: another run may have saved it, on a busier machine)."""
    for name in ("flowers", "clothing"):
        rate = results.get(name, {}).get("child", {}).get("photos_per_second")
        source = f"{name} (this run)"
        saved = work / name / "last-run.json"
        if rate is None and saved.is_file():
            last = json.loads(saved.read_text())
            rate = last.get("child", {}).get("photos_per_second")
            source = f"{name} (the run saved in {saved}, {last.get('date', 'undated')})"
        if rate:
            return source, float(rate)
    return None


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--sets", default="flowers,clothing")
    parser.add_argument("--seed", type=int, default=123)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "flowerkit-bench-audit"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the corrupted copies again")
    parser.add_argument("--baseline", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--scale", default="", help="rows of the scaling legs, e.g. 10000,100000")
    parser.add_argument("--child-audit", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-scale", nargs=2, type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.child_audit:
        _child_audit(args.child_audit[0], args.child_audit[1], int(args.child_audit[2]))
        return 0
    if args.child_scale:
        _child_scale(args.child_scale[0], args.child_scale[1])
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    code = _code()
    print("# Audit benchmark\n\n" + "  \n".join([*_machine(), code]) + "\n", flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    results: dict[str, Any] = {"machine": _machine(), "code": code, "seed": args.seed}
    for name in [s for s in args.sets.split(",") if s]:
        run = Path(tempfile.mkdtemp(prefix=f"{name}-run-", dir=args.work))
        try:
            results[name] = _one_set(name, args, run)
        finally:
            shutil.rmtree(run, ignore_errors=True)
        saved = {**results[name], "date": _machine()[1], "code": code}
        (args.work / name / "last-run.json").write_text(json.dumps(saved, default=str))
    if args.scale:
        sizes = [int(n) for n in args.scale.split(",")]
        results["scale"] = _scale(sizes, args.seed, _throughput(args.work, results))
    if _sources() not in code:
        print(f"\nWARNING: the audit's sources changed during the run (now {_sources()})")
    out = args.work / f"results-{stamp}.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nRaw figures: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
