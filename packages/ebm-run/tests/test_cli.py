"""The shared app flags: defaults, the optional ones, checked counts and devices, --resume without --out as a
usage error, one-line input errors, unreadable torch files named."""

import argparse
import json
import re
from pathlib import Path

import pytest
import torch
from ebm_core.checkpoint import load_torch_file
from ebm_run import (
    add_run_args,
    default_out_dir,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    resolve_out_dir,
    run_cli,
    start_run_folder,
)


def _parser(**kwargs) -> argparse.ArgumentParser:
    return add_run_args(argparse.ArgumentParser(prog="demo_app"), {"paper": 1, "default": 2}, "default", **kwargs)


def test_defaults_and_a_fresh_out_dir_per_app():
    p = _parser()
    args = p.parse_args([])
    assert (args.preset, args.out, args.seed, args.resume, args.quiet, args.device) == ("default", None, None, False,
                                                                                       False, None)  # not given
    assert not hasattr(args, "data_dir")
    out = resolve_out_dir(p, args)
    assert out.parent == Path("runs/demo_app") and re.fullmatch(r"\d{8}-\d{6}", out.name)
    assert default_out_dir("x").parent == Path("runs/x")
    assert "runs/demo_app/<time>" in p.format_help()


def test_flags_parse_and_optional_flags():
    p = _parser(data_dir_help="where the data is")
    args = p.parse_args(["--preset", "paper", "--out", "o", "--seed", "3", "--resume", "--quiet", "--data-dir", "d",
                         "--device", "cpu"])
    assert (args.preset, args.out, args.seed, args.resume, args.quiet) == ("paper", Path("o"), 3, True, True)
    assert (args.data_dir, args.device) == (Path("d"), "cpu")
    assert resolve_out_dir(p, args) == Path("o")
    assert not hasattr(_parser(device=False).parse_args([]), "device")
    with pytest.raises(SystemExit):
        p.parse_args(["--preset", "nope"])
    with pytest.raises(ValueError, match="default preset"):
        add_run_args(argparse.ArgumentParser(), ["a"], "b")


def test_help_states_defaults_and_set_and_print_config_finish_the_config(capsys):
    import dataclasses

    from ebm_run import app_parser, finish_config

    @dataclasses.dataclass(frozen=True)
    class Inner:
        steps: int = 5

    @dataclasses.dataclass(frozen=True)
    class Config:
        inner: Inner = Inner()
        seed: int = 0

    p = add_run_args(app_parser("demo_app", "A demo.\n\n    uv run apps/demo_app --seed 3\n"), ["default"], "default")
    text = " ".join(p.format_help().split())
    assert "random seed, 0 to 2147483647 (default: the config's seed, 0 in every preset)" in text
    assert "(default: auto, or the device --config sets)" in text and "--config FILE.toml" in text
    assert "uv run apps/demo_app --seed 3" in p.format_help()  # the examples kept as written
    assert "(default: None)" not in text and "(default: False)" not in text  # no empty defaults
    config = finish_config(p, p.parse_args(["--set", "inner.steps=7"]), Config())
    assert config == Config(Inner(7))
    with pytest.raises(SystemExit) as exc:
        finish_config(p, p.parse_args(["--set", "inner.steps=7", "--print-config"]), Config())
    assert exc.value.code == 0
    assert json.loads(capsys.readouterr().out) == {"inner": {"steps": 7}, "seed": 0}
    with pytest.raises(SystemExit) as exc:
        finish_config(p, p.parse_args(["--set", "inner.stepz=7"]), Config())
    assert exc.value.code == 2 and "stepz" in capsys.readouterr().err
    assert finish_config(p, p.parse_args(["--set", "seed=4"]), Config()).seed == 4  # the run's own seed
    for section_copy in ("inner.seed=4", "inner.quiet=true"):  # the run sets these: a --set would be ignored
        with pytest.raises(SystemExit) as exc:
            finish_config(p, p.parse_args(["--set", section_copy]), Config())
        assert exc.value.code == 2 and "comes from its top-level" in capsys.readouterr().err


def test_resume_without_out_is_a_usage_error(capsys):
    p = _parser()
    with pytest.raises(SystemExit) as exit_info:
        resolve_out_dir(p, p.parse_args(["--resume"]))
    assert exit_info.value.code == 2
    assert "--resume needs --out DIR" in capsys.readouterr().err


def test_torchrun_without_out_is_a_usage_error(monkeypatch, capsys):
    p = _parser(torchrun=True)
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert resolve_out_dir(p, p.parse_args(["--out", "o"])) == Path("o")
    with pytest.raises(SystemExit) as exc:
        resolve_out_dir(p, p.parse_args([]))
    assert exc.value.code == 2
    assert "under torchrun give --out DIR" in capsys.readouterr().err
    single = _parser()  # an app that runs in one process refuses to be a rank
    with pytest.raises(SystemExit) as exc:
        resolve_out_dir(single, single.parse_args(["--out", "o"]))
    assert exc.value.code == 2 and "not as the ranks of a torchrun job" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert resolve_out_dir(single, single.parse_args(["--out", "o"])) == Path("o")


def test_counts_seeds_and_devices_are_checked_when_parsed(capsys):
    assert positive_int("3") == 3 and nonnegative_int("0") == 0
    assert positive_float("1e-3") == 1e-3 and nonnegative_float("0") == 0.0 and nonnegative_float("0.5") == 0.5
    for bad, check in (("0", positive_int), ("-5", positive_int), ("x", positive_int), ("-1", nonnegative_int),
                       ("2.5", positive_int), ("0", positive_float), ("-0.1", nonnegative_float),
                       ("inf", positive_float), ("nan", nonnegative_float), ("x", positive_float)):
        with pytest.raises(argparse.ArgumentTypeError):
            check(bad)
    p = _parser()
    p.add_argument("--steps", type=positive_int)
    for argv, message in ((["--steps", "0"], "must be at least 1, got 0"), (["--seed", "-1"], "must be 0 or more"),
                          (["--device", "gpu"], "not a torch device: 'gpu'")):
        with pytest.raises(SystemExit) as exc:
            p.parse_args(argv)
        assert exc.value.code == 2 and message in capsys.readouterr().err
    assert p.parse_args(["--device", "cpu"]).device == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            p.parse_args(["--device", "cuda"])
        assert "CUDA is not available on this machine" in capsys.readouterr().err


def test_the_run_folder_is_the_first_line_and_resume_into_an_empty_one_says_it_starts_anew(tmp_path, capsys):
    p = _parser()
    out = resolve_out_dir(p, p.parse_args(["--out", str(tmp_path / "typo"), "--resume"]))
    assert out == tmp_path / "typo" and not out.exists()  # resolving only checks: nothing made yet
    start_run_folder(out, "demo_app", resume=True)
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"demo_app: run folder {out} (--resume: no earlier run there; starting a new one)"
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"x")
    start_run_folder(tmp_path / "run", "demo_app", announce=False)
    assert capsys.readouterr().out == ""
    resolve_out_dir(p, p.parse_args(["--out", str(tmp_path / "run"), "--resume"]))
    start_run_folder(tmp_path / "run", "demo_app", resume=True)
    assert capsys.readouterr().out == (f"demo_app: run folder {tmp_path / 'run'}\n"
                                       f"demo_app: watch it with: uv run tensorboard --logdir {tmp_path / 'run'}\n")


def test_run_cli_reports_input_errors_in_one_line(capsys):
    def missing() -> int:
        raise FileNotFoundError("no MNIST files in /nowhere")

    assert run_cli(missing, "demo_app", []) == 2
    err = capsys.readouterr().err
    assert err.startswith("demo_app: error (FileNotFoundError): no MNIST files in /nowhere")
    assert "Traceback" not in err and "test_cli.py" in err  # where it was raised, in one line
    with pytest.raises(FileNotFoundError):
        run_cli(missing, "demo_app", ["--traceback"])

    def bad_value() -> int:  # a ValueError from the project's own checks: one line
        load_torch_file(Path(__file__).parent)
        return 0

    assert run_cli(bad_value, "demo_app", []) == 2
    assert "demo_app: error (ValueError): checkpoint" in capsys.readouterr().err

    def bug() -> int:
        raise RuntimeError("a bug keeps its traceback")

    def bug_outside_the_packages() -> int:  # a ValueError raised outside the ebm_* packages and apps
        return int("not a number")

    for failing in (bug, bug_outside_the_packages):
        with pytest.raises((RuntimeError, ValueError)):
            run_cli(failing, "demo_app", [])
    assert run_cli(lambda: 0, "demo_app", []) == 0


def test_unreadable_torch_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint .*missing.pt does not exist"):
        load_torch_file(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="is a folder"):
        load_torch_file(tmp_path)
    text = tmp_path / "notes.txt"
    text.write_text("not a checkpoint\n" * 20)
    with pytest.raises(ValueError, match="model file .*notes.txt cannot be loaded"):
        load_torch_file(text, "model file")
    good = tmp_path / "good.pt"
    torch.save({"step": 3}, good)
    good.write_bytes(good.read_bytes()[:40])  # cut off
    with pytest.raises(ValueError, match="good.pt cannot be loaded"):
        load_torch_file(good)


def test_a_config_file_sets_the_preset_and_the_flags_given_override_it(tmp_path, capsys):
    import dataclasses

    from ebm_run import finish_config, preset_config

    @dataclasses.dataclass(frozen=True)
    class Training:
        steps: int = 10
        lr: float = 1e-3
        device: str = "cpu"
        pairs: tuple[tuple[str, int], ...] = (("a", 1),)

    @dataclasses.dataclass(frozen=True)
    class Config:
        training: Training = Training()
        seed: int = 0

    @dataclasses.dataclass(frozen=True)
    class Judged:
        training: Training = Training()
        judge: Training = Training()
        seed: int = 0

    presets = {"default": Config(), "paper": Config(Training(steps=99))}
    p = _parser()
    best = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    args = p.parse_args([])
    assert preset_config(p, args, presets) == Config() and (args.seed, args.device) == (0, best)  # auto
    file = tmp_path / "run.toml"
    file.write_text('seed = 4\n[training]\nlr = 1\npairs = [["b", 2], ["c", 3]]\n')
    args = p.parse_args(["--preset", "paper", "--config", str(file)])
    config = preset_config(p, args, presets)
    assert config == Config(Training(steps=99, lr=1.0, pairs=(("b", 2), ("c", 3))), seed=4)  # on top of the preset
    assert isinstance(config.training.lr, float) and (args.seed, args.device) == (4, best)
    args = p.parse_args(["--config", str(file), "--seed", "7", "--set", "training.lr=0.5"])
    config = finish_config(p, args, dataclasses.replace(preset_config(p, args, presets), seed=args.seed))
    assert (config.seed, config.training.lr) == (7, 0.5)  # the flag given, then --set, over the file
    file.write_text('training.device = "cpu"\n')  # a device in the file: --device is not filled with auto
    args = p.parse_args(["--config", str(file)])
    assert preset_config(p, args, presets).training.device == "cpu" and args.device is None
    p_judge = _parser(device_field="judge.device")  # an app whose --device writes another field
    judged = {"default": Judged(), "paper": Judged()}
    file.write_text('training.device = "cpu"\n')  # a device, but not the one --device sets: auto still fills it
    args = p_judge.parse_args(["--config", str(file)])
    preset_config(p_judge, args, judged)
    assert args.device == best
    file.write_text('judge.device = "cpu"\n')
    args = p_judge.parse_args(["--config", str(file)])
    assert preset_config(p_judge, args, judged).judge.device == "cpu" and args.device is None
    for text, says in [('[training]\nstepz = 3\n', "has no field 'stepz'"),
                       ('[training]\nsteps = "3"\n', "expected a value like 10"),
                       ('[training]\nseed = 3\n', "comes from its top-level seed"),
                       ('[training\n', "not a TOML file"), ('training = 3\n', "a group of settings"),
                       ('[training]\ndevice = "tpu"\n', "not a torch device")]:
        file.write_text(text)
        with pytest.raises(SystemExit) as exc:
            preset_config(p, p.parse_args(["--config", str(file)]), presets)
        assert exc.value.code == 2 and says in capsys.readouterr().err, text
    with pytest.raises(SystemExit):
        preset_config(p, p.parse_args(["--config", str(tmp_path / "none.toml")]), presets)
    assert "no such file" in capsys.readouterr().err


def test_apply_overrides_sets_nested_fields_and_refuses_what_does_not_fit():
    import dataclasses

    from ebm_core import LangevinSampler
    from ebm_run import apply_overrides

    @dataclasses.dataclass(frozen=True)
    class Training:
        steps: int = 10
        lr: float = 1e-3
        box: tuple[float, float] = (0.0, 1.0)
        sampler: LangevinSampler = dataclasses.field(default_factory=LangevinSampler)

    @dataclasses.dataclass(frozen=True)
    class Config:
        training: Training = dataclasses.field(default_factory=Training)
        name: str = "a"

    c = apply_overrides(Config(), ["training.steps=20", "training.lr=1", "training.box=(-1, 1)",
                                   "training.sampler.grad_clip=None", "name=b"])
    assert c.training.steps == 20 and c.training.lr == 1.0 and isinstance(c.training.lr, float)
    assert c.training.box == (-1, 1) and c.training.sampler.grad_clip is None and c.name == "b"
    assert c.training.sampler.steps == LangevinSampler().steps  # the rest kept
    for bad, says in [("training.stepz=3", "has no field 'stepz'"), ("training.steps=2.5", "expected a value like 10"),
                      ("training", "path.to.field=value"), ("training=3", "a group of settings"),
                      ("training.sampler.steps=-1", "LangevinSampler.steps must be >= 0"),
                      ("training.lr=nan", "expected a value like 0.001")]:
        with pytest.raises(ValueError, match=says):
            apply_overrides(Config(), [bad])


def test_a_folder_holding_a_run_needs_resume_or_overwrite(tmp_path, capsys):
    p = _parser()
    run = tmp_path / "run"
    (run / "checkpoints" / "a").mkdir(parents=True)
    start_run_folder(run, "demo_app")
    (run / "results.json").write_text("{}")
    (run / "checkpoints" / "a" / "metrics.jsonl").write_text('{"step": 1}\n')
    with pytest.raises(SystemExit) as exc:
        resolve_out_dir(p, p.parse_args(["--out", str(run)]))
    assert exc.value.code == 2
    assert f"--out {run} holds a run (run.json, results.json, checkpoints); add --resume" in capsys.readouterr().err
    assert (run / "checkpoints" / "a" / "metrics.jsonl").exists()  # refused: nothing touched
    with pytest.raises(SystemExit):
        resolve_out_dir(p, p.parse_args(["--out", str(run), "--resume", "--overwrite"]))
    assert "exclude each other" in capsys.readouterr().err
    assert resolve_out_dir(p, p.parse_args(["--out", str(run), "--resume"])) == run
    assert resolve_out_dir(p, p.parse_args(["--out", str(run), "--overwrite"])) == run
    assert (run / "checkpoints" / "a" / "metrics.jsonl").exists()  # resolve_out_dir only checks
    start_run_folder(run, "demo_app", resume=False)  # the run, holding the lock, starts over
    assert not (run / "checkpoints" / "a" / "metrics.jsonl").exists()  # a fresh run's log starts empty
    assert (run / "results.json").exists()  # replaced when the new run writes it, not before
    fresh = tmp_path / "other"
    (fresh / "data").mkdir(parents=True)  # e.g. a data folder alone is not a run
    assert resolve_out_dir(p, p.parse_args(["--out", str(fresh)])) == fresh


def test_ctrl_c_ends_with_one_line_naming_the_folder_to_resume_and_status_130(capsys, monkeypatch):
    import ebm_run.cli

    def interrupted() -> int:
        raise KeyboardInterrupt

    for held, where in (([], "the same --out"), ([Path("runs/a"), Path("runs/b")], "--out runs/b")):
        monkeypatch.setattr(ebm_run.cli, "held_run_folders", lambda held=held: held)
        assert run_cli(interrupted, "demo", argv=[]) == 130
        err = capsys.readouterr().err.strip()
        assert err == f"demo: interrupted; to continue from the last checkpoint, run the same command with --resume " \
                      f"and {where}"


def test_resume_removes_the_temporary_files_of_a_killed_run(tmp_path):
    from ebm_core.atomic import atomic_path
    from ebm_run import stale_temporaries

    p = _parser()
    run = tmp_path / "run"
    ckpt = run / "checkpoints" / "ebm"
    ckpt.mkdir(parents=True)
    (ckpt / "checkpoint.pt").write_bytes(b"done")
    start_run_folder(run, "demo_app")
    try:
        with atomic_path(ckpt / "checkpoint.pt") as tmp:
            tmp.write_bytes(b"half")
            left = tmp.with_name(tmp.name)  # what a SIGKILL here would leave
            raise RuntimeError
    except RuntimeError:
        pass
    left.write_bytes(b"half")  # atomic_path removes it on an exception; a kill would not
    (ckpt / ".notes").write_text("mine")  # other hidden files are not atomic_path's
    (ckpt / "metrics.jsonl").write_text('{"step": 1}\n')
    assert stale_temporaries(run) == [left]
    resolve_out_dir(p, p.parse_args(["--out", str(run), "--resume"]))
    assert left.exists()  # resolve_out_dir only checks: a running job may still be writing there
    start_run_folder(run, "demo_app", resume=True)
    assert (ckpt / "metrics.jsonl").exists()  # resumed: the log goes on
    assert not left.exists() and (ckpt / ".notes").exists() and (ckpt / "checkpoint.pt").read_bytes() == b"done"


def test_resume_continues_only_a_run_of_the_same_app(tmp_path, capsys):
    p = _parser()
    other = start_run_folder(tmp_path / "other", "split_mnist")
    (other / "results.json").write_text("{}")
    with pytest.raises(SystemExit) as exc:
        resolve_out_dir(p, p.parse_args(["--out", str(other), "--resume"]))
    assert exc.value.code == 2 and "holds a run of split_mnist, not of demo_app" in capsys.readouterr().err
    assert (other / "results.json").read_text() == "{}"
    with pytest.raises(ValueError, match="holds a run of split_mnist, not of demo_app"):
        start_run_folder(other, "demo_app")  # the library's own guard, for code that skips the CLI
    old = tmp_path / "old"
    old.mkdir()
    (old / "checkpoint.pt").write_bytes(b"x")  # a run from before run records
    with pytest.raises(SystemExit):
        resolve_out_dir(p, p.parse_args(["--out", str(old), "--resume"]))
    assert "without a run record (run.json)" in capsys.readouterr().err


def test_a_second_job_on_the_same_folder_stops_naming_the_first(tmp_path):
    import subprocess
    import sys

    run = tmp_path / "run"
    (run / "ckpt").mkdir(parents=True)
    log, partial = run / "ckpt" / "metrics.jsonl", run / "ckpt" / ".checkpoint.0123abcd.pt"
    first = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom ebm_run import start_run_folder\n"
         f"start_run_folder({str(run)!r}, 'demo_app')\nprint('locked', flush=True)\ntime.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout.readline().strip() == f"demo_app: run folder {run}"  # the first line, once locked
        assert first.stdout.readline().strip().startswith("demo_app: watch it with: uv run tensorboard")
        assert first.stdout.readline().strip() == "locked"
        log.write_text('{"step": 1}\n')  # what the running job is writing
        partial.write_bytes(b"half")
        with pytest.raises(ValueError, match=rf"is in use by another job \(pid {first.pid} on .*, started "):
            start_run_folder(run, "demo_app")  # a fresh run would delete logs and temporaries: refused first
        assert log.exists() and partial.exists()
    finally:
        first.kill()
        first.wait()
    assert start_run_folder(run, "demo_app") == run  # the lock died with its job
    assert start_run_folder(run, "demo_app") == run  # taken once per process: a second call is fine


def test_replace_given_sets_only_the_flags_that_were_given():
    import dataclasses

    from ebm_run import replace_given

    @dataclasses.dataclass(frozen=True)
    class Section:
        steps: int = 5
        eps: tuple = (0.0,)
        render: bool = True

    section = Section()
    assert replace_given(section, steps=None, eps=None) is section
    assert replace_given(section, steps=7, eps=[0.1, 0.2], render=False) == Section(7, (0.1, 0.2), False)
