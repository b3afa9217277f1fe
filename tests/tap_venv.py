"""A third-party extractor (a Singer tap) installed in a virtualenv of its own, once.

Taps pin old libraries (tap-hubspot 4.5.0: ``requests==2.34.2``, ``singer-python==5.15.0``,
``attrs==16.3.0``…) that must not meet leadsync's, so each gets its own virtualenv under
pytest's cache directory (``.pytest_cache/d/taps/<name>-<version>``), created by the
first test that needs it and reused by every later one and later run. A lock file makes
concurrent xdist workers wait for one install instead of racing; a marker written after a
successful ``pip install`` tells a finished venv from a broken one (rebuilt). It needs
PyPI, as installing leadsync does; a failed install fails the test (never a skip).
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["tap_python"]


def _root(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir("taps"))
    return tmp_path_factory.getbasetemp().parent / "taps"


def tap_python(
    config: pytest.Config, tmp_path_factory: pytest.TempPathFactory, requirement: str
) -> Path:
    """The ``python`` of a virtualenv holding ``requirement`` (``tap-hubspot==4.5.0``)."""
    root = _root(config, tmp_path_factory)
    root.mkdir(parents=True, exist_ok=True)
    venv = root / requirement.replace("==", "-")
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    with open(root / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            done = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                 requirement],
                capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            assert done.returncode == 0, f"pip install {requirement} failed:\n{done.stderr}"
            marker.write_text(requirement)
    return python
