"""Reproduce the TensorFlow image-classification tutorial through flowerkit.

Runs the tutorial's plain CNN for 10 epochs and its regularised CNN (augmentation +
dropout 0.2) for 15 epochs on flower_photos with the tutorial's exact split
(``split="keras"``, seed 123, 180x180, batch 32), then writes the figures of
``docs/tutorial.rst``:

* ``tutorial_samples.png``: nine labelled training images;
* ``tutorial_plain_curves.png`` and ``tutorial_regularised_curves.png``: accuracy and
  loss per epoch;
* ``tutorial_confusion.png``: the regularised model's confusion matrix on the validation
  split;
* ``tutorial_results.json``: each run's epochs, time, last validation accuracy and
  history, the regularised model's evaluation summary and its prediction for one
  validation photo.

    python examples/tutorial.py --data ../shared/data/flower_photos --out examples/out
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import flowerkit as fk

#: Figures go into the docs, so they are kept small (matplotlib dots per inch).
DPI = 72


def run(data_dir: Path, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    data = fk.load_datasets(data_dir, split="keras", seed=123, image_size=(180, 180), batch_size=32)
    print(f"train {len(data.train_files)} / validation {len(data.validation_files)} images")
    results: dict[str, Any] = {"samples": samples(data, out)}
    recipes = {
        "plain": dict(epochs=10, augmentation=False, dropout=0.0),
        "regularised": dict(epochs=15, augmentation=fk.augmentation_block(seed=123), dropout=0.2),
    }
    clf = None
    for name, recipe in recipes.items():
        clf = fk.Classifier.from_preset(
            "tutorial",
            class_names=data.class_names,
            augmentation=recipe["augmentation"],
            dropout=recipe["dropout"],
            seed=123,
        )
        started = time.perf_counter()
        clf.fit(data, epochs=int(recipe["epochs"]), verbose=2)  # type: ignore[call-overload]
        seconds = time.perf_counter() - started
        clf.save(out / f"tutorial_{name}.keras")
        results[name] = {
            "epochs": recipe["epochs"],
            "seconds": round(seconds, 1),
            "val_accuracy": clf.history_["val_accuracy"][-1],
            "history": clf.history_,
        }
        print(f"{name}: val_accuracy {results[name]['val_accuracy']:.3f} in {seconds:.0f} s")
        (out / "tutorial_results.json").write_text(json.dumps(results, indent=2))
    assert clf is not None
    results["evaluation"] = evaluate(clf, data, out)
    results["prediction"] = predict(clf, data, data_dir)
    (out / "tutorial_results.json").write_text(json.dumps(results, indent=2))
    plot(results, out)
    return results


def samples(data: fk.Datasets, out: Path) -> list[str]:
    """Nine training images with their labels, as in the tutorial's first figure; returns
    their files (the photos are CC-BY 2.0: the docs credit them by Flickr id)."""
    import random

    from flowerkit.evaluation.plots import plot_samples

    fig = plot_samples(data, n=9, seed=123)
    save(fig, out / "tutorial_samples.png", palette=True)
    order = list(range(len(data.train_files)))
    random.Random(123).shuffle(order)  # as plot_samples draws them
    return [f"{data.train_files[i].parent.name}/{data.train_files[i].name}" for i in order[:9]]


def evaluate(clf: fk.Classifier, data: fk.Datasets, out: Path) -> dict[str, Any]:
    """The regularised model's report on the validation split, and its confusion matrix."""
    from flowerkit.evaluation.plots import plot_confusion_matrix

    report = clf.evaluate(data)
    save(plot_confusion_matrix(report), out / "tutorial_confusion.png")
    print(report.to_text())
    return {
        "accuracy": report.accuracy,
        "top_k_accuracy": report.top_k_accuracy,
        "ece": report.ece,
        "most_confused": report.most_confused(),
    }


def predict(clf: fk.Classifier, data: fk.Datasets, data_dir: Path) -> dict[str, Any]:
    """The prediction for the first validation photo, as the tutorial's last step."""
    photo = Path(data.validation_files[0])
    prediction = clf.predict(photo)[0]
    print(
        f"This image most likely belongs to {prediction.label} "
        f"with a {100 * prediction.confidence:.2f} percent confidence."
    )
    return {
        "photo": photo.relative_to(data_dir).as_posix(),
        "true_label": photo.parent.name,
        "label": prediction.label,
        "confidence": prediction.confidence,
        "top_k": prediction.top_k,
    }


def plot(results: dict[str, Any], out: Path) -> None:
    from flowerkit.evaluation.plots import plot_history

    for name in ("plain", "regularised"):
        if name in results:
            fig = plot_history(results[name]["history"])
            save(fig, out / f"tutorial_{name}_curves.png")


def save(fig: Any, path: Path, *, palette: bool = False) -> None:
    """Write ``fig`` at :data:`DPI`; ``palette`` stores photos in 256 colours (smaller)."""
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    if palette:
        from PIL import Image

        with Image.open(path) as image:
            small = image.convert("RGB")
        while True:  # shrink until the figure fits the docs' budget of ~150 KB
            small.quantize(colors=256).save(path, optimize=True)
            if path.stat().st_size < 150_000:
                break
            small = small.resize((small.width * 9 // 10, small.height * 9 // 10))
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/flower_photos"))
    parser.add_argument("--out", type=Path, default=Path("examples/out"))
    parser.add_argument("--plot-only", action="store_true", help="re-plot saved results")
    args = parser.parse_args()
    if args.plot_only:
        plot(json.loads((args.out / "tutorial_results.json").read_text()), args.out)
    else:
        run(args.data, args.out)
