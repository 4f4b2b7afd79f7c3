"""flowerkit turns on TensorFlow's pooling CPU allocator unless the user chose otherwise,
and tunes glibc's malloc only when training work starts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from flowerkit.core import runtime as _tfenv


def test_default_is_set_and_a_user_value_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TF_CPU_ALLOCATOR_USE_BFC", raising=False)
    _tfenv.apply_defaults()
    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "true"
    monkeypatch.setenv("TF_CPU_ALLOCATOR_USE_BFC", "false")
    _tfenv.apply_defaults()
    assert os.environ["TF_CPU_ALLOCATOR_USE_BFC"] == "false"


def test_tensorflow_uses_the_pooling_allocator_after_import_flowerkit() -> None:
    """Only TensorFlow's BFC allocator keeps statistics; the default one raises."""
    code = (
        "import flowerkit, tensorflow as tf\n"
        "x = tf.ones((256, 256)) @ tf.ones((256, 256))\n"
        "print(tf.config.experimental.get_memory_info('CPU:0')['peak'] > 0)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"


def test_malloc_is_tuned_when_training_work_starts_not_on_import(colour_folder: object) -> None:
    """A process that only imports flowerkit (say, to predict) keeps glibc's defaults."""
    code = (
        "import sys, flowerkit as fk\n"
        "from flowerkit.core import runtime\n"
        "print(runtime._tuned)\n"
        "fk.load_datasets(sys.argv[1], image_size=16)\n"
        "print(runtime._tuned)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "FLOWERKIT_TUNE_MALLOC"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(colour_folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    before, after = out.stdout.split()[-2:]
    assert before == "None"  # not attempted on import
    assert after != "None"  # attempted by load_datasets (True where glibc allows it)
