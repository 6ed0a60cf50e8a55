"""Entry point Pulumi runs (`main: infra/`). Pulumi starts it with infra/ as the working directory and on
sys.path; the program imports itself as the `infra` package, so the repository root goes first."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from infra.program import main  # noqa: E402  # needs the sys.path entry above

main()
