"""Reproduce the TensorFlow image-classification tutorial through flowerkit.

Runs the tutorial's plain CNN for 10 epochs and its regularised CNN (augmentation +
dropout 0.2) for 15 epochs on flower_photos with the tutorial's exact split
(``split="keras"``, seed 123, 180x180, batch 32), then writes the accuracy/loss figure.

    python examples/tutorial.py --data ../shared/data/flower_photos --out examples/out
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import flowerkit as fk


def run(data_dir: Path, out: Path) -> dict[str, dict[str, object]]:
    out.mkdir(parents=True, exist_ok=True)
    data = fk.load_datasets(data_dir, split="keras", seed=123, image_size=(180, 180), batch_size=32)
    print(f"train {len(data.train_files)} / validation {len(data.validation_files)} images")
    results: dict[str, dict[str, object]] = {}
    recipes = {
        "plain": dict(epochs=10, augmentation=False, dropout=0.0),
        "regularised": dict(epochs=15, augmentation=fk.augmentation_block(seed=123), dropout=0.2),
    }
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
    plot(results, out)
    return results


def plot(results: dict[str, dict[str, object]], out: Path) -> None:
    from flowerkit.evaluation.plots import plot_history

    for name, result in results.items():
        plot_history(result["history"], save_path=out / f"tutorial_{name}_curves.png")  # type: ignore[arg-type]


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
