"""Run folders and their files: JSON and figures written whole, the versions a run records, the run
record with its settings and what a --resume may change."""

import json

import pytest
import torch
from ebm_run import package_versions, save_figure, write_json_atomic


def test_write_json_atomic_replaces_whole_file_and_keeps_old_one_on_failure(tmp_path):
    path = tmp_path / "sub" / "results.json"
    write_json_atomic(path, {"a": 1, "where": tmp_path})  # a Path value is written as text
    assert json.loads(path.read_text()) == {"a": 1, "where": str(tmp_path)}
    with pytest.raises(ValueError):
        write_json_atomic(path, _Cyclic())  # json refuses a circular reference mid-write
    assert json.loads(path.read_text())["a"] == 1  # the old file is untouched
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary left behind


class _Cyclic(dict):
    def __init__(self):
        super().__init__(me=self)


def test_package_versions():
    v = package_versions("torch", "surely-not-a-package")
    assert v["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert v["surely-not-a-package"] == "not installed" and "python" in v


def test_save_figure_writes_the_png_and_closes_the_figure_also_on_failure(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "plots" / "curve.png", dpi=50)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # a whole PNG, in a folder made for it
    assert not plt.fignum_exists(fig.number)

    def save_half_then_fail(tmp, **kwargs):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    fig2, _ = plt.subplots()
    fig2.savefig = save_half_then_fail  # the save fails half-way
    with pytest.raises(OSError, match="disk full"):
        save_figure(fig2, tmp_path / "plots" / "other.png")
    assert not plt.fignum_exists(fig2.number)
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["curve.png"]  # no half file left


def test_a_run_record_holds_app_settings_and_version_and_resume_keeps_the_settings(tmp_path, capsys):
    from ebm_core import TrainerConfig
    from ebm_run import start_run_folder

    out = tmp_path / "run"
    settings = {"trainer": TrainerConfig(steps=5), "seed": 3, "data": ("mnist", 100)}
    start_run_folder(out, "demo", settings=settings)
    record = json.loads((out / "run.json").read_text())
    assert record["app"] == "demo" and record["ebm_core_version"] and record["settings"]["seed"] == 3
    assert record["settings"]["trainer"]["steps"] == 5 and record["settings"]["data"] == ["mnist", 100]
    # more steps, another device: the same run, continued; the record now says so
    start_run_folder(out, "demo", resume=True,
                     settings={**settings, "trainer": TrainerConfig(steps=9, device="meta")})
    assert json.loads((out / "run.json").read_text())["settings"]["trainer"]["steps"] == 9
    # another seed or data: not the run in the folder; nothing is changed
    (out / "metrics.jsonl").write_text("{}\n")
    before = (out / "run.json").read_text()
    for change, said in (({"seed": 4}, "seed: 3 -> 4"), ({"data": ("fashion", 100)}, "data: ['mnist', 100] -> "),
                         ({"trainer": TrainerConfig(steps=9, lr=0.5)}, "trainer.lr: ")):
        with pytest.raises(ValueError, match="was run with other settings") as err:
            start_run_folder(out, "demo", resume=True, settings={**settings, **change})
        assert said in str(err.value) and "\n" not in str(err.value)
    assert (out / "run.json").read_text() == before and (out / "metrics.jsonl").exists()
    # starting over (no --resume) takes the new settings
    start_run_folder(out, "demo", settings={**settings, "seed": 4})
    assert json.loads((out / "run.json").read_text())["settings"]["seed"] == 4 and not (out / "metrics.jsonl").exists()


def test_the_recorded_config_shows_the_runs_seed_in_every_section():
    import dataclasses

    from ebm_run import recorded_config

    @dataclasses.dataclass(frozen=True)
    class Section:
        seed: int = 0
        steps: int = 5
        inner: tuple = ({"seed": 1},)

    @dataclasses.dataclass(frozen=True)
    class Config:
        training: Section = Section()
        seed: int = 7

    assert recorded_config(Config()) == {"training": {"seed": 7, "steps": 5, "inner": ({"seed": 7},)}, "seed": 7}
