import json

import pytest
import torch
from ebm_core import (
    LangevinSampler,
    MLPEnergy,
    ReplayBuffer,
    Trainer,
    TrainerConfig,
    atomic_path,
    atomic_torch_save,
    load_if_same_settings,
    package_versions,
    save_figure,
    save_with_settings,
    write_json_atomic,
)


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


def test_trainer_carries_a_given_buffer_and_optimizer_across_trainers():
    torch.manual_seed(0)
    energy = MLPEnergy(2, hidden=(16,), spectral_norm=False)
    sampler = LangevinSampler(steps=2, step_size=0.1, noise_std=0.01, grad_clip=None, clamp=(-2.0, 2.0))
    buffer = ReplayBuffer((2,), capacity=100)
    opt = torch.optim.SGD(energy.parameters(), lr=1e-2)
    cfg = TrainerConfig(steps=3, batch_size=8, quiet=True)
    first = Trainer(energy, sampler, (torch.randn(64, 2), None), cfg, buffer=buffer, optimizer=opt)
    first.train()
    filled = len(buffer)
    assert filled == 3 * 8
    second = Trainer(energy, sampler, (torch.randn(64, 2) + 1, None), cfg, buffer=buffer, optimizer=opt)
    assert second.buffer is buffer and second.optimizer is opt
    second.train()
    assert len(buffer) == filled + 3 * 8  # the second task's negatives join the first task's


def test_atomic_path_renames_on_success_and_cleans_up_on_failure(tmp_path):
    target = tmp_path / "fig.png"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash while writing")
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["fig.png"]


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


def test_weights_are_reused_only_under_the_settings_that_made_them(tmp_path):
    path = tmp_path / "aux" / "classifier.pt"
    settings = {"kind": "classifier", "steps": 400, "widths": (32, 64), "data": tmp_path}  # tuple, Path
    made = torch.nn.Linear(3, 2)
    assert not load_if_same_settings(torch.nn.Linear(3, 2), settings, path)  # nothing saved yet
    save_with_settings(made, settings, path)
    fresh = torch.nn.Linear(3, 2)
    assert load_if_same_settings(fresh, dict(settings), path)  # equal settings (the tuple read back as a list)
    assert torch.equal(fresh.weight, made.weight)
    other = torch.nn.Linear(3, 2)
    before = other.weight.clone()
    assert not load_if_same_settings(other, {**settings, "steps": 800}, path)  # e.g. a changed --classifier-steps
    assert torch.equal(other.weight, before)  # left untouched: the caller trains anew
    torch.save(made.state_dict(), path)  # a file of the older format: weights without settings
    assert not load_if_same_settings(other, settings, path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="classifier.pt cannot be loaded"):
        load_if_same_settings(other, settings, path)


def test_files_written_atomically_get_the_umasks_permissions_not_owner_only(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "results.json", {"a": 1})
        with atomic_path(tmp_path / "fig.png") as tmp:
            tmp.write_bytes(b"png")
        atomic_torch_save({"w": torch.zeros(1)}, tmp_path / "model.pt")
        for name in ("results.json", "fig.png", "model.pt"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name  # readable by the group and others
    finally:
        os.umask(mask)


def test_a_run_record_holds_app_settings_and_version_and_resume_keeps_the_settings(tmp_path, capsys):
    from ebm_core import TrainerConfig, start_run_folder

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
