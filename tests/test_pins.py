"""The pinned install: what is installed is exactly ``constraints.txt``, and the other
places that name versions (pyproject's bounds, asv's matrix) agree with it.

After an intended upgrade, regenerate the pins (docs/pins.md) rather than editing this.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest
from asv.util import load_json
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
CONSTRAINTS = ROOT / "constraints.txt"
#: the project's own dependencies that asv's matrix must pin (pyproject + torch extra)
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [
    Requirement(r) for r in PROJECT["dependencies"] + PROJECT["optional-dependencies"]["torch"]
]


def read_pins(text: str) -> dict[str, str]:
    """``name==version`` lines -> {canonical name: version}; comments and blanks skipped."""
    pins = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if match is None:
            raise ValueError(f"constraints.txt line {number}: {line!r} is not 'name==version'")
        pins[canonicalize_name(match.group(1))] = match.group(2)
    return pins


def matches(installed: str, pinned: str) -> bool:
    """PEP 440 ``==``: a pin without a local label (``2.13.0``) ignores the installed
    one's (``2.13.0+cpu``); a pin with one must match it exactly."""
    want, have = Version(pinned), Version(installed)
    return have == want if want.local else have.public == want.public


def mismatches(pins: dict[str, str], version: Callable[[str], str]) -> list[str]:
    """One line per pinned package whose installed version differs (or is missing)."""
    wrong = []
    for name, pinned in pins.items():
        try:
            installed = version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name}: pinned {pinned}, not installed")
            continue
        if not matches(installed, pinned):
            wrong.append(f"{name}: pinned {pinned}, installed {installed}")
    return wrong


PINS = read_pins(CONSTRAINTS.read_text())


def test_installed_versions_are_the_pins():
    wrong = mismatches(PINS, metadata.version)
    assert not wrong, (
        "installed versions differ from constraints.txt:\n  "
        + "\n  ".join(wrong)
        + "\nReinstall with `make install` (pip install -c constraints.txt ...), or upgrade "
        "the pins as docs/pins.md says."
    )


@pytest.mark.parametrize(
    ("installed", "pinned", "same"),
    [
        ("2.13.0+cpu", "2.13.0", True),  # the local CPU build of torch
        ("2.13.0", "2.13.0", True),
        ("2.13.1+cpu", "2.13.0", False),
        ("2.13.0+cu128", "2.13.0+cpu", False),
        ("0.10.3", "0.10.2", False),
        ("0.10.2.post1", "0.10.2", False),
    ],
)
def test_a_different_version_is_caught(installed, pinned, same):
    assert matches(installed, pinned) is same
    assert (mismatches({"pkg": pinned}, lambda name: installed) == []) is same


def test_a_missing_package_is_caught():
    def absent(name):
        raise metadata.PackageNotFoundError(name)

    assert mismatches({"pkg": "1.0"}, absent) == ["pkg: pinned 1.0, not installed"]


def test_bad_lines_are_named():
    with pytest.raises(ValueError, match="line 2: 'numpy>=2' is not 'name==version'"):
        read_pins("# pins\nnumpy>=2\n")


def test_pins_satisfy_pyproject():
    """Every dependency of the project, with its extras, is pinned within its bounds."""
    extras = PROJECT["optional-dependencies"]
    for req in map(Requirement, PROJECT["dependencies"] + sum(extras.values(), [])):
        name = canonicalize_name(req.name)
        assert name in PINS, f"{req.name} is a dependency but not pinned in constraints.txt"
        assert req.specifier.contains(PINS[name], prereleases=True), (
            f"pin {name}=={PINS[name]} is outside pyproject's {req}"
        )


def test_asv_matrix_uses_the_pins():
    """asv's virtualenvs install the matrix, one package at a time: each entry is pinned
    to the constraints' number, and the project's runtime dependencies are all there."""
    matrix = load_json(str(ROOT / "asv.conf.json"), js_comments=True)["matrix"]["req"]
    in_matrix = {canonicalize_name(name): versions for name, versions in matrix.items()}
    for name, versions in in_matrix.items():
        assert versions == [PINS.get(name)], f"asv matrix {name}: {versions}, pin {PINS.get(name)}"
    missing = {canonicalize_name(r.name) for r in RUNTIME} - set(in_matrix)
    assert not missing, f"asv matrix lacks runtime dependencies {sorted(missing)}"
