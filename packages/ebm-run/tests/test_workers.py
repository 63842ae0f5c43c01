"""A run's worker processes: spawned, dying with their parent, and light to import."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("kill", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_pool_workers_die_with_a_killed_parent(tmp_path, kill):
    """SIGKILL or SIGTERM of the parent leaves no worker behind (the workers get SIGTERM from the kernel)."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import os, time\n"
        "from ebm_run import process_pool\n"
        "if __name__ == '__main__':\n"
        "    pool = process_pool(1)\n"
        "    print(pool.submit(os.getpid).result(), flush=True)\n"
        "    pool.submit(time.sleep, 120)\n"
        "    time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    parent.send_signal(kill)
    parent.wait()

    def alive(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return False
        return "State:\tZ" not in state

    deadline = time.monotonic() + 20
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(worker), f"worker {worker} outlived its killed parent"


def test_a_worker_importing_the_pool_module_does_not_load_torch():
    """ebm_run's names load on first use: a worker importing ebm_run.workers (e.g. the hand data's
    generation workers) does not pay for torch."""
    probe = "import sys, ebm_run.workers; raise SystemExit(3 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", probe], timeout=120).returncode == 0


def test_the_pool_runs_each_workers_setup_first(tmp_path):
    import os

    from ebm_run import process_pool

    with process_pool(2, os.chdir, str(tmp_path)) as pool:  # the setup: each worker moves to tmp_path
        assert set(pool.map(os.path.realpath, ["."] * 4)) == {os.path.realpath(tmp_path)}


def test_run_in_processes_hands_back_every_result_and_raises_a_calls_error():
    from ebm_run import run_in_processes

    made = []

    def calls():  # made lazily: at most two per worker ahead of the results
        for i in range(7):
            made.append(i)
            yield (2, i)

    got: dict[int, int] = {}
    ahead: list[int] = []

    def done(i: int, result: int) -> None:
        ahead.append(len(made) - len(got))  # calls made but not yet handed back, this one included
        got[i] = result

    run_in_processes(2, pow, calls(), done)
    assert got == {i: 2**i for i in range(7)} and made == list(range(7))
    assert max(ahead) <= 4  # never more than two calls per worker made ahead of the results
    with pytest.raises(ValueError, match="invalid literal"):
        run_in_processes(2, int, [("1",), ("x",), ("3",)], lambda i, r: None)


def test_type_checkers_see_every_lazily_loaded_name_from_its_module():
    """ebm_run's ``if TYPE_CHECKING`` imports (what type checkers and editors read) name exactly the
    lazily loaded names of ``_EXPORTS``, each from the module it loads from at run time."""
    import ast

    import ebm_run

    tree = ast.parse(Path(ebm_run.__file__).read_text())
    block = next(node for node in tree.body
                 if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING")
    seen = {(imp.module, alias.name) for imp in block.body if isinstance(imp, ast.ImportFrom) for alias in imp.names}
    assert seen == {(module, name) for module, names in ebm_run._EXPORTS.items() for name in names}
    assert all(getattr(ebm_run, name) is not None for _, name in seen)
