"""Running an app from the tests: as its own process (what `uv run apps/<name>` does: the
end-to-end runs) or inside the test process (error paths: no second torch import, ~5 s each)."""

from __future__ import annotations

import io
import os
import runpy
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_app(app: str, *args: str, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python apps/<app> args`` from the repository root, output captured."""
    return subprocess.run([sys.executable, str(ROOT / "apps" / app), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def call_app(app: str, *args: str) -> subprocess.CompletedProcess:
    """The same command run in this process (its ``__main__``, with ``sys.argv`` set): the exit
    status and what it printed, as ``run_app`` returns them. For runs that stop early."""
    path = ROOT / "apps" / app
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd = sys.argv, Path.cwd()
    sys.argv = [str(path), *args]
    code = 0
    try:
        os.chdir(ROOT)
        with redirect_stdout(out), redirect_stderr(err):
            runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
    return subprocess.CompletedProcess(sys.argv, code, out.getvalue(), err.getvalue())
