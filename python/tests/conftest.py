"""Shared helpers: the repository's committed fixtures (made by the reference scripts beside them)
and the `hiercog` CLI binary of the same checkout, for parity with the command line."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def fixture(crate: str, name: str) -> Path:
    """A committed fixture of crates/<crate>/tests/fixtures."""
    path = REPO / "crates" / crate / "tests" / "fixtures" / name
    if not path.exists():
        pytest.fail(f"{path} is missing: run the tests from a clone of the hiercog repository")
    return path


def load_rows(path: Path, dtype=np.float32):
    """`label v1 v2 ...` lines (the probe fixtures) as (X float32, y int64)."""
    data = np.loadtxt(path, dtype=np.float64)
    return np.ascontiguousarray(data[:, 1:], dtype=dtype), data[:, 0].astype(np.int64)


@pytest.fixture(scope="session")
def cli():
    """Runs the `hiercog` binary of this checkout (or $HIERCOG_BIN) and returns its stdout."""
    binary = Path(os.environ.get("HIERCOG_BIN", REPO / "target" / "release" / "hiercog"))
    if not binary.exists():
        pytest.fail(
            f"{binary} is missing: the CLI parity tests compare with it; build it with "
            "`cargo build --release -p hiercog` (scripts/test.sh builds it with `cargo test --release --workspace`), or set HIERCOG_BIN"
        )

    def run(*args: str) -> str:
        out = subprocess.run([str(binary), *args], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    return run


@pytest.fixture(scope="session")
def wordnet():
    import hiercog

    return hiercog.Taxonomy.wordnet()


def read_json(path: Path):
    return json.loads(path.read_text())
