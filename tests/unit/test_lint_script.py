"""scripts/lint.sh fails, naming the check, on an unformatted file, a mypy error and a failing Go test: run
for real (this checkout's ruff, mypy and Go) against a tiny fixture project with exactly one defect."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.unit

CLEAN = {
    "pyproject.toml": '[tool.ruff]\nline-length = 110\n\n[tool.mypy]\nfiles = ["pkg"]\n',
    "pkg/__init__.py": "",
    "pkg/calc.py": "def add(a: int, b: int) -> int:\n    return a + b\n",
    "tools/calc/go.mod": "module fixture.invalid/calc\n\ngo 1.21\n",
    "tools/calc/calc.go": "package calc\n\nfunc Add(a, b int) int { return a + b }\n",
    "tools/calc/calc_test.go": (
        'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n'
        '\tif got := Add(1, 2); got != 3 {\n\t\tt.Fatalf("Add(1, 2) = %d", got)\n\t}\n}\n'
    ),
    "tools/untested/go.mod": "module fixture.invalid/untested\n\ngo 1.21\n",
}

DEFECTS = {
    "format": ({"pkg/ugly.py": "x = {  'a':1 }\n"}, "ruff format --check", "Would reformat: pkg/ugly.py"),
    "mypy": (
        {"pkg/bad.py": 'def name() -> int:\n    return "x"\n'},
        "mypy",
        'pkg/bad.py:2: error: Incompatible return value type (got "str", expected "int")',
    ),
    "go": (
        {"tools/calc/calc.go": "package calc\n\nfunc Add(a, b int) int { return a - b }\n"},
        "go test tools/calc",
        "Add(1, 2) = -1",
    ),
}
CHECKS = ("ruff check", "ruff format --check", "mypy", "go test tools/calc")


def run_lint(project: Path, mypy_cache: Path) -> subprocess.CompletedProcess[str]:
    # MYPY_CACHE_DIR: one cache for the three runs (typeshed is analysed once); everything else is real.
    env = {**os.environ, "MYPY_CACHE_DIR": str(mypy_cache)}
    return subprocess.run(
        [str(ROOT / "scripts" / "lint.sh"), "--root", str(project)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_lint_fails_naming_the_check(defect: str, tmp_path: Path, mypy_cache: Path) -> None:
    files, failing, evidence = DEFECTS[defect]
    write(tmp_path, CLEAN)
    write(tmp_path, files)
    proc = run_lint(tmp_path, mypy_cache)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, f"lint.sh exited {proc.returncode} on the {defect} defect:\n{out}"
    assert evidence in out, out
    assert f"lint: {failing}: FAILED" in out, out
    assert f"lint: FAILED: {failing} (" in out, out
    for other in CHECKS:
        if other != failing:  # the fixture is clean but for the one defect
            assert f"lint: {other}: ok" in out, out
    assert "lint: go test tools/untested: no test files, skipped" in out, out
