"""MediaPipe Tasks' ImageClassifier against flowerkit, on the validation photos (issue 30).

For each preset in ``--presets`` (default ``mobilenet_v2``), or each saved model given
with ``--model`` (no training then), the model is trained on flower_photos by its
preset's recipe (``load_datasets(DIR, image_size=<the preset's>, seed=123)``, then
``clf.fit(data, verbose=0)``; ``mobilenet_v2`` from the local ImageNet weights file) and
exported to ``.tflite`` in the four quantizations (int8 calibrated on the training
split). Then, on the validation split, three ways to classify every photo:

``flowerkit``
    ``Classifier.predict`` on the files (its top-1 is the reference) and
    ``Classifier.predict_proba`` on the same files decoded by ``fk.load_image`` at the
    model's size (its scores);
``file``
    MediaPipe Tasks' ``ImageClassifier`` on each export, fed ``mp.Image.create_from_file``:
    MediaPipe's own decoding (EXIF, colours) and resize, as an app does;
``pixels``
    the same classifier fed the pixels flowerkit decoded at the model's size
    (``mp.Image(SRGB, uint8 HxWx3)``, from a saved ``.npy``): the export, its metadata and
    MediaPipe's inference, without MediaPipe's decoding and resizing.

MediaPipe runs in another interpreter (``--mediapipe-python``, default
``/tmp/venv-mptf/bin/python``), one process per export, which classifies every photo
from its file and then from flowerkit's pixels, with every score returned
(``max_results=-1``).

Reported per model and quantization, for ``file`` and ``pixels``: the top-1 agreement
with ``Classifier.predict`` (goal >= 99.5% for float32); the mean and largest |score
difference| of flowerkit's top class (MediaPipe's score for that class against
``predict_proba``'s); whether the category names, by index, are the class names in order
for every photo. Then every photo on which a ``file`` run disagrees, with what could
explain it: its format, mode, size, EXIF orientation and ICC profile, the size MediaPipe
decoded it at, the mean |pixel difference| between MediaPipe's and flowerkit's full-size
decodes, flowerkit's top-1 on MediaPipe's decode (resized by flowerkit's rules: a decode
cause if it flips) and on flowerkit's own decode squashed by plain, not anti-aliased,
bilinear (``tf.image.resize``: a resize cause if it flips). The plain-bilinear agreement
is also given over all photos.

    python benchmarks/bench_mediapipe.py                          # ~4 minutes on 2 cores
    python benchmarks/bench_mediapipe.py --epochs 1 --limit 50    # smoke test
    python benchmarks/bench_mediapipe.py --model flowers.keras --quantizations float32,int8

The trained models, the exports, the pixels and the raw figures (``results.json``) stay
in ``--work`` (default: a new folder in the temporary directory), so
``--model WORK/mobilenet_v2.keras`` runs again without training.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_DATA = SHARED / "data" / "flower_photos"
DEFAULT_WEIGHTS = SHARED / "weights" / "mobilenet_v2_1.0_224_no_top.weights.h5"
DEFAULT_MEDIAPIPE = "/tmp/venv-mptf/bin/python"
QUANTIZATIONS = ("float32", "float16", "dynamic", "int8")
SOURCES = ("file", "pixels")
GOAL = 0.995  # top-1 agreement of the float32 export read from the files
MAX_DISAGREEMENT_ROWS = 40

#: Runs in the mediapipe interpreter: ``runner.py REQUEST.json``. The request names the
#: model, the files, the saved pixels and where to write the answer; with ``dump`` it
#: writes MediaPipe's full-size decodes of the files to that ``.npz`` instead.
RUNNER = '''"""bench_mediapipe's runner: MediaPipe Tasks' ImageClassifier on one export."""
import json
import sys
import time

import mediapipe as mp
import numpy as np
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.core.base_options import BaseOptions


def classify(classifier, make_images):
    rows, started = [], time.perf_counter()
    for make in make_images:
        try:
            image = make()
            categories = classifier.classify(image).classifications[0].categories
        except Exception as error:  # one unreadable photo is a row, not the end
            rows.append({"error": f"{type(error).__name__}: {error}"})
            continue
        by_index = sorted(categories, key=lambda c: c.index)
        rows.append({
            "indices": [c.index for c in by_index],
            "names": [c.category_name for c in by_index],
            "scores": [float(c.score) for c in by_index],
            "decoded": [image.width, image.height, image.channels],
        })
    return rows, time.perf_counter() - started


def dump(files, out):
    arrays = {}
    for i, name in enumerate(files):
        try:
            arrays[str(i)] = np.array(mp.Image.create_from_file(name).numpy_view())
        except Exception:
            pass
    np.savez(out, **arrays)


def main():
    with open(sys.argv[1]) as f:
        request = json.load(f)
    files = request["files"]
    if request.get("dump"):
        dump(files, request["dump"])
        return
    options = vision.ImageClassifierOptions(
        base_options=BaseOptions(model_asset_path=request["model"]), max_results=-1
    )
    answer = {"mediapipe": mp.__version__}
    with vision.ImageClassifier.create_from_options(options) as classifier:
        answer["file"], answer["file_seconds"] = classify(
            classifier, [lambda f=f: mp.Image.create_from_file(f) for f in files]
        )
        pixels = np.load(request["pixels"])
        answer["pixels"], answer["pixels_seconds"] = classify(
            classifier,
            [
                lambda a=a: mp.Image(
                    image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(a)
                )
                for a in pixels
            ],
        )
    with open(request["out"], "w") as f:
        json.dump(answer, f)


main()
'''


# ---------------------------------------------------------------- the mediapipe interpreter


def _check_mediapipe(python: str) -> str:
    """The mediapipe version of ``python``; exits with how to make one when it has none."""
    venv = Path(python).parent.parent if Path(python).parent.name == "bin" else Path("V")
    how = (
        "MediaPipe runs in an interpreter of its own (flowerkit's environment need not "
        f"have it). Make one with:\n    python -m venv {venv} && {venv}/bin/pip install "
        "mediapipe\nor pass --mediapipe-python PATH (an interpreter that can import mediapipe)."
    )
    if not Path(python).is_file():
        raise SystemExit(f"bench_mediapipe: no Python interpreter at {python}.\n{how}")
    proc = subprocess.run(
        [python, "-c", "import mediapipe; print(mediapipe.__version__)"],
        capture_output=True,
        text=True,
        env=_quiet_env(),
        check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or ["?"]
        raise SystemExit(f"bench_mediapipe: {python} cannot import mediapipe ({tail[0]}).\n{how}")
    return proc.stdout.split()[-1]


def _quiet_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "GLOG_minloglevel": "2"}


def _run_mediapipe(
    python: str, runner: Path, request: dict[str, Any], at: Path
) -> dict[str, Any] | None:
    """Run the runner on ``request`` (written to ``at``); its answer, read from
    ``request["out"]`` (``None`` for a dump)."""
    at.write_text(json.dumps(request))
    proc = subprocess.run(
        [python, str(runner), str(at)],
        capture_output=True,
        text=True,
        env=_quiet_env(),
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the mediapipe runner failed on {at}:\n{proc.stderr[-3000:]}")
    if "out" not in request:
        return None
    answer: dict[str, Any] = json.loads(Path(request["out"]).read_text())
    return answer


# ---------------------------------------------------------------- flowerkit's side


def _models(args: argparse.Namespace, work: Path) -> Iterator[tuple[str, Any, Any]]:
    """(name, classifier, datasets) for each ``--model``, else each preset, trained."""
    import flowerkit as fk

    for path in args.model or []:
        clf = fk.Classifier.load(path)
        data = fk.load_datasets(args.data, image_size=clf.image_size, seed=args.seed)
        print(f"{path}: loaded ({clf.preset}, {clf.image_size})", flush=True)
        yield Path(path).stem, clf, data
    if args.model:
        return
    for preset in [p for p in args.presets.split(",") if p]:
        yield preset, *_train(preset, args, work)


def _train(preset: str, args: argparse.Namespace, work: Path) -> tuple[Any, Any]:
    import flowerkit as fk

    spec = fk.get_preset(preset)
    data = fk.load_datasets(args.data, image_size=spec.image_size, seed=args.seed)
    build = {"weights": str(args.weights)} if preset == "mobilenet_v2" and args.weights else {}
    clf = fk.Classifier.from_preset(preset, class_names=data.class_names, seed=args.seed, **build)
    lengths: dict[str, int] = {}
    if args.epochs is not None:
        lengths["epochs"] = args.epochs
        if spec.recipe.fine_tune_epochs:
            lengths["fine_tune_epochs"] = args.epochs
    started = time.perf_counter()
    clf.fit(data, seed=args.seed, verbose=0, **lengths)
    seconds = time.perf_counter() - started
    path = clf.save(work / f"{preset}.keras")
    accuracy = clf.history_["val_accuracy"][-1]
    print(
        f"{preset}: trained in {seconds:.0f} s, {len(clf.history_['loss'])} epochs, "
        f"validation accuracy {accuracy:.4f}, temperature {clf.temperature_}; saved {path}",
        flush=True,
    )
    return clf, data


def _flowerkit(clf: Any, files: Sequence[str]) -> dict[str, Any]:
    """Classifier.predict's labels; predict_proba on flowerkit's decode at the model's
    size, and those pixels."""
    import flowerkit as fk

    pixels = np.stack([fk.load_image(f, clf.image_size) for f in files])
    probabilities = clf.predict_proba(pixels, batch_size=64)
    labels = clf.predict(list(files), batch_size=64).labels
    return {
        "files": list(files),
        "labels": labels,
        "probabilities": probabilities,
        "pixels": pixels,
    }


def _plain_bilinear(clf: Any, files: Sequence[str], batch: int = 64) -> list[str]:
    """Top-1 of the model on flowerkit's full-size decode squashed to its size by plain
    (not anti-aliased) bilinear, as MediaPipe is thought to resize."""
    import tensorflow as tf

    import flowerkit as fk

    labels: list[str] = []
    for start in range(0, len(files), batch):
        images = [
            tf.image.resize(fk.load_image(f), clf.image_size, "bilinear", antialias=False).numpy()
            for f in files[start : start + batch]
        ]
        scores = clf.predict_proba(np.clip(np.stack(images), 0, 255), batch_size=batch)
        labels += [clf.class_names[i] for i in scores.argmax(1)]
    return labels


def _export(clf: Any, data: Any, quantization: str, target: Path) -> Any:
    """The ``.tflite`` export (int8 calibrated on the training split); the accuracy
    check is reported, never fatal, so that every quantization is measured."""
    started = time.perf_counter()
    result = clf.export(
        target,
        "tflite",
        quantization=quantization,
        representative_data=data,
        max_accuracy_drop=1.0,
    )
    print(f"  exported in {time.perf_counter() - started:.0f} s: {result}", flush=True)
    return result


# ---------------------------------------------------------------- comparing


def _compare(
    rows: Sequence[dict[str, Any]], reference: dict[str, Any], class_names: Sequence[str]
) -> dict[str, Any]:
    """One MediaPipe run against flowerkit: agreement, score differences, names."""
    probabilities = reference["probabilities"]
    top = probabilities.argmax(1)
    agree: list[bool] = []
    differences: list[float] = []
    differ: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    names_in_order = True
    for i, row in enumerate(rows):
        if "error" in row:
            errors.append({"index": i, "error": row["error"]})
            differ.append({"index": i, "label": "(error)", "score": float("nan")})
            agree.append(False)
            continue
        names_in_order &= row["names"] == list(class_names)
        names_in_order &= row["indices"] == list(range(len(class_names)))
        best = int(np.argmax(row["scores"]))
        label = row["names"][best]
        agree.append(label == reference["labels"][i])
        differences.append(abs(row["scores"][top[i]] - float(probabilities[i, top[i]])))
        if not agree[-1]:
            differ.append({"index": i, "label": label, "score": row["scores"][best]})
    gaps = np.array(differences) if differences else np.array([np.nan])
    return {
        "agreement": float(np.mean(agree)),
        "agreeing": int(np.sum(agree)),
        "photos": len(rows),
        "mean_abs_diff_top": float(np.mean(gaps)),
        "max_abs_diff_top": float(np.max(gaps)),
        "names_in_order": bool(names_in_order),
        "errors": errors,
        "differ": differ,
        "decoded": [row.get("decoded") for row in rows],
    }


def _describe_photo(path: str) -> dict[str, Any]:
    """Format, mode, size, EXIF orientation and ICC profile of a photo (header only)."""
    from PIL import Image, ImageCms

    try:
        with Image.open(path) as image:
            icc = image.info.get("icc_profile")
            profile = "-"
            if icc:
                try:
                    profile = ImageCms.getProfileDescription(
                        ImageCms.ImageCmsProfile(io.BytesIO(icc))
                    ).strip()
                except Exception:  # a damaged profile is still a profile
                    profile = f"unreadable ({len(icc)} bytes)"
            return {
                "format": image.format,
                "mode": image.mode,
                "size": list(image.size),
                "orientation": int(image.getexif().get(0x0112, 1) or 1),
                "icc": profile,
            }
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


def _diagnose(
    clf: Any, files: Sequence[str], indices: Sequence[int], mediapipe: tuple[str, Path, Path]
) -> dict[int, dict[str, Any]]:
    """For photos a ``file`` run disagrees on: how MediaPipe's full-size decode differs
    from flowerkit's, and flowerkit's top-1 on MediaPipe's decode."""
    import flowerkit as fk

    if not indices:
        return {}
    python, runner, work = mediapipe
    dump = work / "mediapipe-decodes.npz"
    request = {"files": [files[i] for i in indices], "dump": str(dump)}
    _run_mediapipe(python, runner, request, work / "dump-request.json")
    decodes = np.load(dump)
    found: dict[int, dict[str, Any]] = {}
    for k, i in enumerate(indices):
        if str(k) not in decodes:
            found[i] = {"decode_diff": "MediaPipe cannot read it", "on_mp_decode": "-"}
            continue
        theirs = decodes[str(k)]
        theirs = np.repeat(theirs[..., None], 3, -1) if theirs.ndim == 2 else theirs
        theirs = np.repeat(theirs, 3, -1) if theirs.shape[-1] == 1 else theirs[..., :3]
        ours = fk.load_image(files[i])
        diff: Any = "shape differs"
        if ours.shape == theirs.shape:
            diff = float(np.abs(ours.astype(np.int16) - theirs.astype(np.int16)).mean())
        scores = clf.predict_proba(fk.load_image(theirs, clf.image_size)[None])
        found[i] = {
            "decode_diff": diff,
            "on_mp_decode": clf.class_names[int(scores.argmax())],
        }
    return found


# ---------------------------------------------------------------- one model


def _bench(name: str, clf: Any, data: Any, args: argparse.Namespace, runner: Path) -> Any:
    """Export ``clf`` in each quantization and compare MediaPipe's answers with its own."""
    work: Path = args.work
    files = [str(f) for f in data.validation_files][: args.limit]
    print(f"\n{name}: {len(files)} validation photos", flush=True)
    reference = _flowerkit(clf, files)
    pixels = work / f"{name}-pixels.npy"
    np.save(pixels, reference["pixels"])
    reference["pixels_path"] = pixels
    argmax = [clf.class_names[int(j)] for j in reference["probabilities"].argmax(1)]
    bench: dict[str, Any] = {
        "model": name,
        "preset": clf.preset,
        "image_size": list(clf.image_size),
        "class_names": list(clf.class_names),
        "files": files,
        "flowerkit_labels": reference["labels"],
        "flowerkit_top_scores": reference["probabilities"].max(1).tolist(),
        "predict_equals_proba_argmax": _same(argmax, reference["labels"]),
        "exports": {},
    }
    for quantization in args.quantizations.split(","):
        target = work / f"{name}-{quantization}.tflite"
        bench["exports"][quantization] = _measure(clf, data, target, reference, args, runner)
    plain = _plain_bilinear(clf, files)
    bench["plain_bilinear_agreeing"] = _same(plain, reference["labels"])
    bench["photos"] = [
        _describe_photo(f) | {"plain_bilinear": p} for f, p in zip(files, plain, strict=True)
    ]
    differing = sorted({d["index"] for e in bench["exports"].values() for d in e["file"]["differ"]})
    mediapipe = (args.mediapipe_python, runner, work)
    for i, found in _diagnose(clf, files, differing, mediapipe).items():
        bench["photos"][i].update(found)
    return bench


def _same(a: Sequence[str], b: Sequence[str]) -> int:
    return sum(x == y for x, y in zip(a, b, strict=True))


def _measure(
    clf: Any,
    data: Any,
    target: Path,
    reference: dict[str, Any],
    args: argparse.Namespace,
    runner: Path,
) -> dict[str, Any]:
    """One export (``target`` is ``<model>-<quantization>.tflite``), classified by
    MediaPipe from the files and from flowerkit's pixels."""
    quantization = target.stem.rsplit("-", 1)[-1]
    result = _export(clf, data, quantization, target)
    request = {
        "model": str(result.path),
        "files": reference["files"],
        "pixels": str(reference["pixels_path"]),
        "out": str(target.with_suffix(".mediapipe.json")),
    }
    answer = _run_mediapipe(args.mediapipe_python, runner, request, args.work / "request.json")
    assert answer is not None
    entry: dict[str, Any] = {
        "size_mb": result.size_bytes / 1e6,
        "checks": [c.to_dict() for c in result.checks],
        "mediapipe": answer["mediapipe"],
    }
    for source in SOURCES:
        entry[source] = _compare(answer[source], reference, clf.class_names)
        entry[source]["seconds"] = answer[f"{source}_seconds"]
    print(f"  MediaPipe: {_one_line(entry)}", flush=True)
    return entry


def _one_line(entry: dict[str, Any]) -> str:
    return "; ".join(
        f"{source} {entry[source]['agreeing']}/{entry[source]['photos']} agree, "
        f"max |d| {entry[source]['max_abs_diff_top']:.4f}, {entry[source]['seconds']:.0f} s"
        for source in SOURCES
    )


# ---------------------------------------------------------------- printing


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _agreement_table(bench: dict[str, Any]) -> str:
    headers = [
        "quantization",
        "size MB",
        "MediaPipe fed",
        "top-1 agreement",
        "photos differing",
        "mean abs diff, top score",
        "max abs diff, top score",
        "category names = class names",
        "errors",
        "seconds",
    ]
    rows: list[list[object]] = []
    for quantization, entry in bench["exports"].items():
        for source in SOURCES:
            c = entry[source]
            agreement = f"{100 * c['agreement']:.2f}% ({c['agreeing']}/{c['photos']})"
            if quantization == "float32" and source == "file":
                agreement += " goal met" if c["agreement"] >= GOAL else " **below 99.5% goal**"
            rows.append(
                [
                    quantization,
                    f"{entry['size_mb']:.2f}",
                    "its file" if source == "file" else "flowerkit's pixels",
                    agreement,
                    c["photos"] - c["agreeing"],
                    f"{c['mean_abs_diff_top']:.4f}",
                    f"{c['max_abs_diff_top']:.4f}",
                    "yes" if c["names_in_order"] else "**no**",
                    len(c["errors"]),
                    f"{c['seconds']:.0f}",
                ]
            )
    return _table(headers, rows)


def _photo_facts(photo: dict[str, Any], decoded: Any) -> list[object]:
    if "error" in photo:
        return [photo["error"], "-", "-", "-"]
    w, h = photo["size"]
    made = "x".join(str(v) for v in decoded) if decoded else "-"
    return [f"{photo['format']} {photo['mode']} {w}x{h}", photo["orientation"], photo["icc"], made]


def _disagreement_table(bench: dict[str, Any]) -> str:
    runs: dict[int, list[str]] = {}
    first: dict[int, dict[str, Any]] = {}
    for quantization, entry in bench["exports"].items():
        for source in SOURCES:
            for d in entry[source]["differ"]:
                runs.setdefault(d["index"], []).append(f"{quantization} {source}")
                first.setdefault(d["index"], d)
    headers = [
        "photo",
        "runs that differ",
        "flowerkit top-1",
        "MediaPipe top-1 (first run)",
        "format, mode, size",
        "EXIF orientation",
        "ICC profile",
        "MediaPipe decoded WxHxC",
        "decode mean abs diff",
        "flowerkit on MediaPipe's decode",
        "flowerkit, plain bilinear",
    ]
    rows: list[list[object]] = []
    for i in sorted(runs)[:MAX_DISAGREEMENT_ROWS]:
        photo = bench["photos"][i]
        decoded = bench["exports"][next(iter(bench["exports"]))]["file"]["decoded"][i]
        diff = photo.get("decode_diff", "-")
        rows.append(
            [
                "/".join(Path(bench["files"][i]).parts[-2:]),
                ", ".join(runs[i]),
                f"{bench['flowerkit_labels'][i]} {bench['flowerkit_top_scores'][i]:.3f}",
                f"{first[i]['label']} {first[i]['score']:.3f}",
                *_photo_facts(photo, decoded),
                f"{diff:.2f}" if isinstance(diff, float) else diff,
                photo.get("on_mp_decode", "-"),
                photo["plain_bilinear"],
            ]
        )
    more = len(runs) - len(rows)
    return _table(headers, rows) + (f"\n\n({more} more photos in results.json)" if more else "")


def _split_facts(bench: dict[str, Any]) -> str:
    photos = [p for p in bench["photos"] if "error" not in p]
    count = len(bench["photos"])
    rotated = sum(p["orientation"] != 1 for p in photos)
    icc = sum(p["icc"] != "-" for p in photos)
    not_rgb = sum(p["mode"] != "RGB" for p in photos)
    not_jpeg = sum(p["format"] != "JPEG" for p in photos)
    small = sum(min(p["size"]) < min(bench["image_size"]) for p in photos)
    plain = bench["plain_bilinear_agreeing"]
    return (
        f"Validation photos: {count}; EXIF orientation other than 1: {rotated}; with an ICC "
        f"profile: {icc}; mode other than RGB: {not_rgb}; not JPEG: {not_jpeg}; a side "
        f"smaller than the model's: {small}.  \n"
        f"Classifier.predict's top-1 = predict_proba's on flowerkit's pixels: "
        f"{bench['predict_equals_proba_argmax']}/{count}.  \n"
        f"flowerkit's model on its own decode squashed by plain bilinear (tf.image.resize, "
        f"no anti-aliasing) instead of Pillow's anti-aliased resize: top-1 agreement "
        f"{100 * plain / max(count, 1):.2f}% ({plain}/{count})."
    )


def _report(bench: dict[str, Any]) -> str:
    size = "x".join(str(v) for v in bench["image_size"])
    version = next(iter(bench["exports"].values()))["mediapipe"] if bench["exports"] else "?"
    return "\n\n".join(
        [
            f"## {bench['model']} ({bench['preset']}, {size}), mediapipe {version}",
            _split_facts(bench),
            _agreement_table(bench),
            "### Photos on which a MediaPipe run differs from Classifier.predict",
            _disagreement_table(bench),
        ]
    )


def _header(mediapipe: str) -> list[str]:
    m = describe()
    return [
        f"Machine: {m['cpu']}, {m['cores']} cores ({', '.join(m['flags']) or 'no AVX2'}); "
        f"Python {m['python']}, TensorFlow {m['tensorflow']}, Keras {m['keras']}, "
        f"mediapipe {mediapipe}",
        f"Date: {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}",
        "Command: " + shlex.join([Path(sys.executable).name, *sys.argv]),
    ]


# ---------------------------------------------------------------- main


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--presets", default="mobilenet_v2", help="comma-separated presets")
    parser.add_argument(
        "--model", type=Path, action="append", help="a saved .keras model (no training)"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--seed", type=int, default=123, help="the split (and training) seed")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="mobilenet_v2's")
    parser.add_argument("--epochs", type=int, help="epochs of each phase (smoke tests)")
    parser.add_argument("--quantizations", default=",".join(QUANTIZATIONS))
    parser.add_argument("--limit", type=int, help="only the first N validation photos")
    parser.add_argument("--mediapipe-python", default=DEFAULT_MEDIAPIPE)
    parser.add_argument("--work", type=Path, help="where models, exports and results go")
    args = parser.parse_args(argv)
    unknown = set(args.quantizations.split(",")) - set(QUANTIZATIONS)
    if unknown:
        parser.error(f"unknown quantizations {sorted(unknown)}; choose from {QUANTIZATIONS}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    version = _check_mediapipe(args.mediapipe_python)  # before minutes of training
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    args.work = args.work or Path(tempfile.mkdtemp(prefix="flowerkit-bench-mediapipe-"))
    args.work.mkdir(parents=True, exist_ok=True)
    runner = args.work / "mediapipe_runner.py"
    runner.write_text(RUNNER)
    header = _header(version)
    print("# MediaPipe Tasks against flowerkit\n\n" + "  \n".join(header), flush=True)
    print(f"Work folder: {args.work}", flush=True)
    results: dict[str, Any] = {"header": header, "machine": describe(), "models": []}
    reports = []
    for name, clf, data in _models(args, args.work):
        bench = _bench(name, clf, data, args, runner)
        results["models"].append(bench)
        (args.work / "results.json").write_text(json.dumps(results, indent=1, default=str))
        reports.append(_report(bench))
        print("\n" + reports[-1], flush=True)
    print("\n\n# Summary\n\n" + "  \n".join(header) + "\n\n" + "\n\n".join(reports))
    print(f"\nRaw figures: {args.work / 'results.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
