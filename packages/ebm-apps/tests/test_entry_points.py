"""Every app is a console script as well as `uv run apps/<name>`: the same module behind both."""

import subprocess
import sys
from pathlib import Path

from ebm_apps import APPS

ROOT = Path(__file__).resolve().parents[3]


def _script(app: str) -> Path:
    return Path(sys.executable).parent / f"ebm-{app.replace('_', '-')}"


def test_the_apps_folder_and_the_package_list_the_same_apps():
    assert sorted(p.name for p in (ROOT / "apps").iterdir() if (p / "__main__.py").exists()) == sorted(APPS)


def test_every_console_script_is_installed_and_answers_with_its_apps_help():
    missing = [_script(app).name for app in APPS if not _script(app).exists()]
    assert not missing, f"not installed (packages/ebm-apps/pyproject.toml [project.scripts]): {missing}"
    procs = {app: subprocess.Popen([str(_script(app)), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True) for app in APPS}
    for app, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        assert out.startswith(f"usage: {app} ") and f"uv run apps/{app}" in out  # its own parser and examples


def test_the_script_and_the_apps_folder_run_one_parser():
    by_script = subprocess.run([str(_script("split_mnist")), "--help"], capture_output=True, text=True, timeout=120)
    by_folder = subprocess.run([sys.executable, str(ROOT / "apps" / "split_mnist"), "--help"], capture_output=True,
                               text=True, timeout=120, cwd=ROOT)
    assert by_script.returncode == by_folder.returncode == 0 and by_script.stdout == by_folder.stdout
    bad = subprocess.run([str(_script("split_mnist")), "--methods", "ebm,ebm"], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "names ebm twice" in bad.stderr  # one line
