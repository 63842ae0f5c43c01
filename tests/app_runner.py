"""Running an app from the tests: as its own process (what `uv run apps/<name>` does: the
end-to-end runs) or inside the test process (error paths: no second torch import, ~5 s each)."""

from __future__ import annotations

import io
import os
import runpy
import subprocess
import sys
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_app(app: str, *args: str, env: dict[str, str] | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """``python apps/<app> args`` from the repository root, output captured."""
    return subprocess.run([sys.executable, str(ROOT / "apps" / app), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def call_app(app: str, *args: str) -> subprocess.CompletedProcess:
    """The same command run in this process (its ``__main__``, with ``sys.argv`` set): the exit
    status and what it printed through ``sys.stdout`` / ``sys.stderr``, as ``run_app`` returns them
    (an uncaught exception: status 1 and its traceback; Python warnings and output written to the
    file descriptors directly are not captured). For runs that stop early."""
    path = ROOT / "apps" / app
    argv = [str(path), *args]
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd = sys.argv, Path.cwd()
    sys.argv = argv
    code = 0
    try:
        os.chdir(ROOT)
        with redirect_stdout(out), redirect_stderr(err):
            try:
                runpy.run_path(str(path), run_name="__main__")
            except SystemExit as exit_:
                if isinstance(exit_.code, int) or exit_.code is None:
                    code = exit_.code or 0
                else:  # sys.exit("message"): Python prints the message and exits with 1
                    print(exit_.code, file=sys.stderr)
                    code = 1
            except Exception:  # an uncaught error ends a process with status 1 and its traceback
                traceback.print_exc()
                code = 1
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def mnist_without_train_files(folder: Path) -> Path:
    """``folder`` holding links to the shared MNIST test files only (``t10k-*``): the apps' path for a
    machine without the train files, whatever the shared folder holds."""
    from ebm_run import shared_mnist_dir

    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(shared_mnist_dir().glob("t10k-*")):
        (folder / source.name).symlink_to(source)
    return folder
