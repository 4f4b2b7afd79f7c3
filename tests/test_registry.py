"""The preset registry has the built-in presets however it is first touched.

Each case runs in a fresh interpreter: the order in which a process first touches the
registry is exactly what used to matter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

_BUILDER = """
import flowerkit as fk

def builder(num_classes, *, image_size, augmentation, dropout, **options):
    raise AssertionError("not built in this test")
"""


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_BUILDER) + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip()


def test_registering_a_new_preset_first_keeps_the_built_ins() -> None:
    out = _run(
        """
        fk.register_preset("mine", description="a test preset")(builder)
        print(fk.list_presets())
        """
    )
    assert out == "['compact', 'mine', 'mobilenet_v2', 'tutorial']"


def test_registering_a_built_in_name_first_says_it_exists() -> None:
    out = _run(
        """
        try:
            fk.register_preset("compact", description="again")(builder)
        except fk.ConfigError as exc:
            print("refused:", exc)
        print(fk.list_presets())
        print(fk.get_preset("compact").builder is builder)
        """
    )
    refused, listed, replaced = out.splitlines()
    assert refused.startswith("refused:") and "already registered" in refused
    assert listed == "['compact', 'mobilenet_v2', 'tutorial']"
    assert replaced == "False"


@pytest.mark.parametrize("name", ["tutorial", "compact"])
def test_overwriting_a_built_in_first_replaces_only_that_one(name: str) -> None:
    out = _run(
        f"""
        fk.register_preset({name!r}, description="mine", overwrite=True)(builder)
        print(fk.list_presets())
        print(fk.get_preset({name!r}).builder is builder, fk.get_preset({name!r}).description)
        """
    )
    listed, replaced = out.splitlines()
    assert listed == "['compact', 'mobilenet_v2', 'tutorial']"
    assert replaced == "True mine"


def test_listing_after_registering_and_overwriting() -> None:
    out = _run(
        """
        fk.register_preset("mine", description="a test preset")(builder)
        fk.register_preset("tutorial", description="mine", overwrite=True)(builder)
        import flowerkit.models.registry as registry  # touching the module re-registers nothing
        print(fk.list_presets(), fk.get_preset("tutorial").builder is builder)
        """
    )
    assert out == "['compact', 'mine', 'mobilenet_v2', 'tutorial'] True"
