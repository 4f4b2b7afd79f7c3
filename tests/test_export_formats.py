"""Export formats are a table: each format module ends with an ``Exporter``, one row of
``EXPORTERS`` lists it, and ``export_model`` runs any row the same way."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pytest

from flowerkit.exceptions import ConfigError
from flowerkit.export import FORMATS, Check, ExportFormat, ExportSource, api, export_model
from flowerkit.export.formats import Exporter, ExportJob


def test_every_format_is_one_row() -> None:
    assert FORMATS == get_args(ExportFormat) == tuple(api.EXPORTERS)
    for name, exporter in api.EXPORTERS.items():
        assert exporter.name == name
    assert [n for n, e in api.EXPORTERS.items() if e.is_directory] == ["saved_model"]
    assert [n for n, e in api.EXPORTERS.items() if e.quantizes] == ["tflite"]
    assert api.EXPORTERS["tflite"].input_dtype("int8") == "uint8"
    assert api.EXPORTERS["saved_model"].input_dtype("float32") == "uint8 | string"


def test_a_new_row_is_all_a_new_format_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A made-up format, registered by one row, is checked, written, verified and put in
    place like the real ones, with its flowerkit.json."""
    seen: list[str] = []

    def write(job: ExportJob, target: Path, document: dict[str, Any]) -> None:
        seen.append(f"write {job.quantization} {len(job.sample)}")
        target.write_text(json.dumps(document))

    def verify(job: ExportJob, target: Path) -> list[Check]:
        seen.append("verify")
        return [Check("text", "max_abs_diff", 0.0, 1e-4)]

    text = Exporter(
        name="text",
        is_directory=False,
        quantizes=False,
        input_name="pixels",
        input_dtype=lambda quantization: "uint8",
        require=lambda verify: seen.append(f"require {verify}"),
        write=write,
        verify=verify,
    )
    exporters: dict[str, Exporter] = {name: e for name, e in api.EXPORTERS.items()}
    exporters["text"] = text
    monkeypatch.setattr(api, "EXPORTERS", exporters)
    monkeypatch.setattr(api, "FORMATS", (*api.FORMATS, "text"))
    source = ExportSource(
        None, ("a", "b"), (8, 8), lambda images: np.zeros((len(images), 2)), temperature=2.0
    )
    result = export_model(source, tmp_path / "m.txt", "text")  # type: ignore[arg-type]
    assert seen == ["require True", "write float32 8", "verify"]
    assert (result.format, result.quantization, result.path) == ("text", None, tmp_path / "m.txt")
    document = json.loads(result.path.read_text())
    assert (document["format"], document["class_names"], document["temperature"]) == (
        "flowerkit.text",
        ["a", "b"],
        2.0,
    )
    assert document["input"]["name"] == "pixels" and document["input"]["dtype"] == "uint8"
    assert document["outputs"] == "probabilities"
    with pytest.raises(ConfigError, match=r"applies to format='tflite'; a text export"):
        export_model(source, tmp_path / "q.txt", "text", quantization="float16")  # type: ignore[arg-type]
