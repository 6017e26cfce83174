"""The architecture contracts (import-linter, declared in pyproject.toml) hold."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")

    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_there_are_no_import_cycles_counting_imports_inside_functions():
    tool = ROOT.parent / "shared" / "tools" / "import_cycles.py"
    assert tool.exists(), f"{tool} is the independent checker the project is judged by"

    result = subprocess.run([sys.executable, str(tool), "."], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 modules in import cycles" in result.stdout
