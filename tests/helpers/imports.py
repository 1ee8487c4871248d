"""What an import drags in, checked in a fresh interpreter (this one has imported everything already)."""

from __future__ import annotations

import json
import subprocess
import sys


def modules_loaded_by(statement: str, *names: str) -> list[str]:
    """Which of the modules *names* are in ``sys.modules`` after running *statement* in a new Python."""
    code = (
        f"import json, sys\n{statement}\n"
        f"print(json.dumps(sorted(m for m in {list(names)!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    loaded: list[str] = json.loads(out.stdout)
    return loaded
