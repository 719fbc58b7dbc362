"""What several test files share: the pmmc binary under test."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pmmc():
    """$PMMC (make check sets it), else build/pmmc; the test is skipped without either."""
    path = os.environ.get("PMMC") or str(ROOT / "build" / "pmmc")
    if not os.access(path, os.X_OK):
        pytest.skip("no pmmc: set PMMC or build build/pmmc")
    return path
