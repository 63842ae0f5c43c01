"""The shared app flags: defaults, the optional ones, and --resume without --out as a usage error."""

import argparse
import re
from pathlib import Path

import pytest
from ebm_core import add_run_args, default_out_dir, resolve_out_dir


def _parser(**kwargs) -> argparse.ArgumentParser:
    return add_run_args(argparse.ArgumentParser(prog="demo_app"), {"paper": 1, "default": 2}, "default", **kwargs)


def test_defaults_and_a_fresh_out_dir_per_app():
    p = _parser()
    args = p.parse_args([])
    assert (args.preset, args.out, args.seed, args.resume, args.quiet, args.device) == ("default", None, 0, False,
                                                                                       False, None)
    assert not hasattr(args, "data_dir")
    out = resolve_out_dir(p, args)
    assert out.parent == Path("runs/demo_app") and re.fullmatch(r"\d{8}-\d{6}", out.name)
    assert default_out_dir("x").parent == Path("runs/x")
    assert "runs/demo_app/<time>" in p.format_help()


def test_flags_parse_and_optional_flags():
    p = _parser(data_dir_help="where the data is", device_default="cpu")
    args = p.parse_args(["--preset", "paper", "--out", "o", "--seed", "3", "--resume", "--quiet", "--data-dir", "d"])
    assert (args.preset, args.out, args.seed, args.resume, args.quiet) == ("paper", Path("o"), 3, True, True)
    assert (args.data_dir, args.device) == (Path("d"), "cpu")
    assert resolve_out_dir(p, args) == Path("o")
    assert not hasattr(_parser(device=False).parse_args([]), "device")
    with pytest.raises(SystemExit):
        p.parse_args(["--preset", "nope"])
    with pytest.raises(ValueError, match="default preset"):
        add_run_args(argparse.ArgumentParser(), ["a"], "b")


def test_resume_without_out_is_a_usage_error(capsys):
    p = _parser()
    with pytest.raises(SystemExit) as exit_info:
        resolve_out_dir(p, p.parse_args(["--resume"]))
    assert exit_info.value.code == 2
    assert "--resume needs --out DIR" in capsys.readouterr().err


def test_torchrun_without_out_is_a_usage_error(monkeypatch, capsys):
    p = _parser()
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert resolve_out_dir(p, p.parse_args(["--out", "o"])) == Path("o")
    with pytest.raises(SystemExit) as exc:
        resolve_out_dir(p, p.parse_args([]))
    assert exc.value.code == 2
    assert "under torchrun give --out DIR" in capsys.readouterr().err
