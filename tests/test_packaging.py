"""The distribution builds as a wheel that installs, with its extras, into a fresh environment."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

import pynector

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
NAME = PYPROJECT["project"]["name"]


def _run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )
    assert 0 == result.returncode, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def test_distribution_name_license_and_extras() -> None:
    """The distribution is pynector-trio (pynector is another project's name), MIT, with a LICENSE."""
    assert "pynector-trio" == NAME
    assert "MIT" == PYPROJECT["project"]["license"]
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n\nCopyright (c) 2026 the pynector authors")
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"cli", "pytest", "otel", "http2"} <= set(extras)
    assert any(req.startswith("pytest-trio") for req in extras["pytest"])
    assert f"pip install {NAME}" in (ROOT / "README.md").read_text()


def test_wheel_installs_into_a_fresh_venv(tmp_path: Path) -> None:
    """A wheel built from the tree installs as pynector-trio[cli] in a fresh venv; `pynector --version` runs.

    Offline: the wheel is built without build isolation (hatchling comes with the test extra), and the
    fresh venv sees the already installed dependencies through a path file listing a directory of links
    to them (everything of this environment but pynector itself), so pip resolves [cli] without an index.
    """
    wheels = tmp_path / "wheels"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, ROOT)
    (wheel,) = wheels.glob("*.whl")
    assert wheel.name.startswith("pynector_trio-")

    deps = tmp_path / "deps"
    deps.mkdir()
    purelib = Path(sysconfig.get_paths()["purelib"])
    for entry in purelib.iterdir():
        if "pynector" not in entry.name.lower() and entry.suffix != ".pth":
            (deps / entry.name).symlink_to(entry)

    env_dir = tmp_path / "fresh"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    fresh_python = env_dir / "bin" / "python"
    fresh_purelib = Path(
        _run(fresh_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    )
    (fresh_purelib / "deps.pth").write_text(f"{deps}\n")

    _run(
        sys.executable, "-m", "pip", "--python", fresh_python, "install", "-q", "--no-index",
        "--find-links", wheels, f"{NAME}[cli]",
    )  # fmt: skip
    _run(sys.executable, "-m", "pip", "--python", fresh_python, "check")
    version = _run(env_dir / "bin" / "pynector", "--version", cwd=tmp_path)
    assert pynector.__version__ in version.stdout
    where = _run(fresh_python, "-c", "import pynector; print(pynector.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(env_dir))


@pytest.mark.skipif(os.name != "posix", reason="venv layout")
def test_license_ships_in_the_wheel_metadata() -> None:
    """The installed distribution's metadata names the MIT license."""
    from importlib.metadata import metadata

    meta = metadata(NAME)
    assert "MIT" == meta["License-Expression"]
