"""The standing table of bad inputs (issue 23, part 5): every app, handed a mistake, stops before any
work with exit status 2 and ONE line on stderr that names the input, no traceback, nothing on stdout
and nothing written or changed in the data and run folders; the public API raises the documented
exception. New bad inputs join the tables here.

The apps run inside the test process (``call_app``); a case whose checks let the run start (its run
folder locked) fails at once with "ran past its checks" instead of training."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from app_runner import ROOT, call_app

APPS = ("hand_rollout", "image_generate", "ood_eval", "robustness", "likelihood", "split_mnist",
        "dsprites_compose", "celeba_compose")
IMAGE_APPS = ("image_generate", "ood_eval", "robustness", "likelihood")
STEP_FLAG = {app: "--ebm-steps" if app == "split_mnist" else "--steps" for app in APPS}
NO_CUDA = not torch.cuda.is_available()


class RanPastChecks(BaseException):
    """Raised where a run locks its folder: the input was accepted and the work would start."""


# ----------------------------------------------------------------- the files a case can name
def _pickle_payload(path: Path, marker: Path) -> None:
    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(marker),)

    torch.save({"state_dict": {}, "config": {}, "extra": Payload()}, path)


def _image_model(path: Path, num_classes: int) -> None:
    from ebm_vision.image_energy import ImageEnergyConfig, build_energy, save_image_energy

    cfg = ImageEnergyConfig(num_classes=num_classes, mnist_channels=(4, 4, 4, 4), mnist_hidden=8)
    save_image_energy(build_energy(cfg), cfg, path)


def _make(token: str, tmp: Path) -> Path:
    """The file or folder a case's ``{token}`` names, made inside ``tmp``."""
    path = tmp / token
    if token == "text":
        path.write_text("my model is in another folder\n")
    elif token == "empty_file":
        path.write_bytes(b"")
    elif token in ("empty_dir", "file_as_out"):
        path.mkdir() if token == "empty_dir" else path.write_text("not a folder\n")
    elif token == "pickle":
        _pickle_payload(path, tmp / "code-ran")
    elif token == "tensor":
        torch.save(torch.zeros(3), path)
    elif token == "no_config":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    elif token == "truncated":
        _image_model(tmp / "whole.pt", 0)
        path.write_bytes((tmp / "whole.pt").read_bytes()[:300])
        (tmp / "whole.pt").unlink()
    elif token == "zip_junk":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("archive/data.pkl", b"not a pickle")
    elif token == "uncond_model":
        _image_model(path, 0)
    elif token == "cond_model":
        _image_model(path, 10)
    elif token == "samples_npz_folder":  # a run folder where the run's samples.npz would go is a folder
        (path / "samples.npz").mkdir(parents=True)
    elif token.startswith("run_"):  # run folders: of another app, without a record, with a bad record
        path.mkdir()
        (path / "results.json").write_text("{}")
        if token == "run_other":
            (path / "run.json").write_text(json.dumps({"app": "some_other_app"}))
        elif token.startswith("run_settings_"):  # this app's run, of other settings
            (path / "run.json").write_text(json.dumps({"app": token[len("run_settings_"):], "settings": {"seed": 7}}))
        elif token == "run_bad_record":
            (path / "run.json").write_text("[not, json")
    elif token == "object_npz":
        np.savez(path, imgs=np.array([{"a": 1}], dtype=object))
        path = path.with_suffix(".npz")
    elif token.endswith("_manifest"):  # a trajectory folder: of other settings, of an unknown format, not JSON
        from ebm_robotics.shards import MANIFEST_FORMAT

        path.mkdir()
        manifest = {"other_manifest": {"format": MANIFEST_FORMAT, "config": {"num_train": 1}, "complete": True},
                    "old_manifest": {"config": {}}, "list_manifest": []}.get(token)
        (path / "manifest.json").write_text("{not json" if manifest is None else json.dumps(manifest))
    elif token.startswith("model_"):  # a model file in the right format with contents that do not fit
        _odd_model(path, token[len("model_"):])
    elif token.startswith("mnist_"):  # an MNIST folder with a flaw
        _odd_mnist(path, token[len("mnist_"):])
    elif token.startswith("fashion_mnist_"):  # a Fashion-MNIST folder (named so) with a flaw
        _odd_mnist(path, token[len("fashion_mnist_"):])
    elif token == "fifo":
        os.mkfifo(path)
    elif token == "tensor_dict":
        torch.save({"weight": torch.zeros(3)}, path)
    elif token not in ("out", "missing"):
        raise KeyError(token)
    return path


def _odd_model(path: Path, flaw: str) -> None:
    from ebm_vision.image_energy import FORMAT, ImageEnergyConfig, build_energy, save_image_energy

    cfg = ImageEnergyConfig(mnist_channels=(4, 4, 4, 4), mnist_hidden=8)
    save_image_energy(build_energy(cfg), cfg, path)
    payload = torch.load(path, weights_only=True)
    sd = payload["state_dict"]
    first = next(iter(sd))
    if flaw == "no_config":
        del payload["config"]
    elif flaw == "config_list":
        payload["config"] = [1, 2]
    elif flaw == "config_extra_key":
        payload["config"]["depth"] = 3
    elif flaw == "config_bad_value":
        payload["config"]["act"] = "nonexistent"
    elif flaw == "config_huge":  # a network of ~10^12 weights: refused without allocating it
        payload["config"]["mnist_hidden"] = 10**9
    elif flaw == "config_overflow":  # 10^9 x 10^9 x 4 x 4 weights: more than torch can count
        payload["config"]["mnist_channels"] = (10**9,) * 4
    elif flaw == "no_state_dict":
        del payload["state_dict"]
    elif flaw == "empty_state_dict":
        payload["state_dict"] = {}
    elif flaw == "wrong_shape":
        sd[first] = torch.zeros(3)
    elif flaw == "complex":
        sd[first] = sd[first].to(torch.complex64)
    elif flaw == "nan":
        sd[first] = sd[first] * float("nan")
    elif flaw == "sparse":
        sd[first] = sd[first].to_sparse()
    elif flaw == "snapshots_str":
        payload["snapshots"] = "x"
    else:
        raise KeyError(flaw)
    assert payload.get("format", FORMAT) == FORMAT
    torch.save(payload, path)


def _odd_mnist(folder: Path, flaw: str) -> None:
    """Test-split idx files (the apps then train on the test split) with one flaw."""
    import gzip

    def idx(name: str, array: np.ndarray) -> None:
        header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
        with gzip.open(folder / f"{name}.gz", "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())

    folder.mkdir()
    n = 300
    images, labels = np.zeros((n, 28, 28)), np.arange(n) % 10
    if flaw == "big_images":
        images = np.zeros((n, 32, 32))
    elif flaw == "label_11":
        labels[7] = 11
    elif flaw == "train_without_labels":
        idx("train-images-idx3-ubyte", images)
    elif flaw == "fewer_labels":
        labels = labels[:-1]
    elif flaw in ("bad_magic", "truncated"):  # a damaged labels file
        idx("t10k-images-idx3-ubyte", images)
        good = bytes([0, 0, 8, 1]) + n.to_bytes(4, "big") + labels.astype(np.uint8).tobytes()
        with gzip.open(folder / "t10k-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\x12\x34" + good[2:] if flaw == "bad_magic" else good[:-50])
        return
    else:
        raise KeyError(flaw)
    idx("t10k-images-idx3-ubyte", images)
    idx("t10k-labels-idx1-ubyte", labels)


def _snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``folders``: its size and modification time (what a run would change)."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else (-1, 0)
            for folder in folders if folder.exists() for p in folder.rglob("*")}


@pytest.fixture
def no_run_starts(monkeypatch):
    import ebm_run.records

    def refuse(out):
        raise RanPastChecks(f"the run started in {out}: its checks let a bad input through")

    monkeypatch.setattr(ebm_run.records, "lock_run_folder", refuse)


def _check(app: str, args: tuple[str, ...], fragment: str, tmp: Path) -> None:
    tokens = {t for a in (*args, fragment) for t in _tokens(a)}
    paths = {t: _make(t, tmp) for t in sorted(tokens)}
    args = tuple(a.format(**paths) for a in args)
    fragment = fragment.format(**paths)
    if not any(a == "--out" for a in args) and "--resume" not in args:
        args = (*args, "--out", str(tmp / "out"))
    before = _snapshot(tmp, ROOT / "runs")
    proc = call_app(app, *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, f"{app} {' '.join(args)}: exit {proc.returncode}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr and len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"{app}: error"), lines[0]
    assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert proc.stdout == "", proc.stdout
    assert _snapshot(tmp, ROOT / "runs") == before, "files were written or changed"
    assert not (tmp / "code-ran").exists(), "a crafted file ran code"


def _tokens(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


# ----------------------------------------------------------------- the table
def _common(app: str) -> list:
    steps = STEP_FLAG[app]
    preset = ("--preset", "tiny", *(("--synthetic",) if app == "celeba_compose" else ()))  # data it can run on
    rows = [
        (("--seed", "-1"), "--seed: must be 0 or more, got -1"),
        (("--seed", str(2**32)), "--seed: 4,294,967,296 is over the limit"),
        (("--seed", str(2**31)), "--seed: 2,147,483,648 is over the limit"),
        (("--seed", "abc"), "--seed: expected a whole number, got 'abc'"),
        (("--seed", "1.5"), "--seed: expected a whole number, got '1.5'"),
        (("--preset", "nope"), "--preset: invalid choice: 'nope'"),
        (("--preset",), "--preset: expected one argument"),
        (("--device", "tpu0"), "--device: not a torch device: 'tpu0'"),
        (("--out", "{file_as_out}"), "--out {file_as_out} is a file, not a folder"),
        (("--resume",), "--resume needs --out DIR"),
        (("--resume", "--overwrite", "--out", "{out}"), "--resume and --overwrite exclude each other"),
        (("--out", "{run_x}"), "--out {run_x} holds a run (results.json)"),
        (("--resume", "--out", "{run_other}"), "holds a run of some_other_app, not of " + app),
        (("--resume", "--out", "{run_norecord}"), "a run without a run record (run.json)"),
        (("--resume", "--out", "{run_bad_record}"), "a run without a run record (run.json)"),
        (("--resume", "--out", f"{{run_settings_{app}}}"), "was run with other settings ("),
        (("--no-such-flag",), "unrecognized arguments: --no-such-flag"),
        ((steps, "0"), f"{steps}: must be at least 1, got 0"),
        ((steps, "-3"), f"{steps}: must be at least 1, got -3"),
        ((steps, "many"), f"{steps}: expected a whole number, got 'many'"),
        ((steps, "1e3"), f"{steps}: expected a whole number, got '1e3'"),
        ((steps, str(10**9)), f"{steps}: 1,000,000,000 steps would take 11.6 days even at 1 ms a step"),
        (("--data-dir",), "--data-dir: expected one argument"),
        (("--out",), "--out: expected one argument"),
    ]
    if NO_CUDA:
        rows += [(("--device", "cuda"), "--device: cuda: CUDA is not available on this machine"),
                 (("--device", "cuda:3"), "--device: cuda:3: CUDA is not available on this machine")]
    return [pytest.param(app, (*preset, *args), fragment, id=f"{app}:{' '.join(args)}") for args, fragment in rows]


MODEL_FLAWS = {
    "no_config": "its config must be a dict of ImageEnergyConfig fields, got NoneType",
    "config_list": "its config must be a dict of ImageEnergyConfig fields, got list",
    "config_extra_key": "its config has fields ImageEnergyConfig does not: ['depth']",
    "config_bad_value": "activation must be",
    "config_huge": "its state_dict entry dense.bias has shape (8,), the network's is (1000000000,)",
    "config_overflow": "its config declares a network torch cannot even describe",
    "no_state_dict": "its state_dict must be a dict of tensors",
    "empty_state_dict": "its state_dict does not fit its config's network (missing [",
    "wrong_shape": "its state_dict entry convs.0.bias has shape (3,), the network's is (4,)",
    "complex": "its state_dict entry convs.0.bias is torch.complex64 (torch.strided), not a dense real floating-point",
    "nan": "its state_dict entry convs.0.bias holds NaN or infinite values",
    "snapshots_str": "its snapshots must be a list",
}


def _model_files(app: str) -> list:
    rows = [(f"{{model_{flaw}}}", f"model file {{model_{flaw}}} cannot be used: {said}")
            for flaw, said in MODEL_FLAWS.items()]
    rows += [
        ("{text}", "model file {text} cannot be loaded"),
        ("{empty_file}", "model file {empty_file} cannot be loaded"),
        ("{pickle}", "model file {pickle} cannot be loaded"),
        ("{tensor}", "{tensor}"),
        ("{no_config}", "{no_config}"),
        ("{truncated}", "model file {truncated} cannot be loaded"),
        ("{zip_junk}", "model file {zip_junk} cannot be loaded"),
        ("{empty_dir}", "{empty_dir}"),
        ("{missing}", "{missing}"),
    ]
    return [pytest.param(app, ("--preset", "tiny", "--checkpoint", f), fragment, id=f"{app}:--checkpoint {f}")
            for f, fragment in rows]


SPECIFIC = [
    # image_generate
    ("image_generate", ("--langevin-steps", "0"), "--langevin-steps: must be at least 1, got 0"),
    ("image_generate", ("--langevin-steps", "100000"), "--langevin-steps: 100,000 is over the limit of 10,000"),
    ("image_generate", ("--langevin-steps", "x"), "--langevin-steps: expected a whole number, got 'x'"),
    ("image_generate", ("--samples", "0"), "--samples: must be at least 1, got 0"),
    ("image_generate", ("--samples", str(10**8)), "--samples: 100,000,000 is over the limit of 10,000,000"),
    ("image_generate", ("--samples", "9000000"), "9,000,000 generated images of (1, 28, 28) would need"),
    ("image_generate", ("--batch-size", "0"), "--batch-size: must be at least 1, got 0"),
    ("image_generate", ("--train-limit", "-1"), "--train-limit: must be at least 1, got -1"),
    ("image_generate", ("--inception-weights", "{missing}"), "Inception weights {missing} not found"),
    ("image_generate", ("--inception-weights", "{text}"), "{text}"),
    ("image_generate", ("--inception-weights", "{pickle}"), "{pickle}"),
    ("image_generate", ("--inception-weights", "{empty_dir}"), "{empty_dir}"),
    ("image_generate", ("--data-dir", "{empty_dir}"), "{empty_dir}"),
    ("image_generate", ("--preset", "cifar10_cond", "--data-dir", "{empty_dir}"), "{empty_dir}"),
    ("image_generate", ("--checkpoint", "{cond_model}", "--preset", "cifar10_cond"), "takes images (1, 28, 28)"),
    ("image_generate", ("--batch-size", "10000000"), "batch size 10,000,000 exceeds the 1,000 training images"),
    ("image_generate", ("--train-limit", "10000000"), "10,000,000 images asked for, the files in"),
    ("image_generate", ("--data-dir", "{mnist_big_images}"), "holds images of 32x32, not 28x28"),
    ("image_generate", ("--data-dir", "{mnist_label_11}"), "holds labels outside 0-9 (0 to 11)"),
    ("image_generate", ("--preset", "tiny", "--out", "{samples_npz_folder}"),
     "{samples_npz_folder}/samples.npz is not a file, and the run writes its samples.npz there"),
    ("image_generate", ("--preset", "tiny", "--set", "model.num_classes=5"),
     "the data's labels run to 9 (10 classes) but the model has 5 classes (model.num_classes)"),
    ("image_generate", ("--data-dir", "{mnist_fewer_labels}"), "300 images but 299 labels"),
    ("image_generate", ("--set", "evaluation.reference_classifier_lr=0"),
     "evaluation.reference_classifier_lr must be > 0, got 0"),
    ("image_generate", ("--set", "evaluation.single_model=best"),
     "evaluation.single_model must be 'last' or 'average', got 'best'"),
    ("image_generate", ("--data-dir", "{mnist_train_without_labels}"), "missing train-labels-idx1-ubyte.gz"),
    ("image_generate", ("--set", "data.dataset=fashion_mnist", "--data-dir", "{fashion_mnist_bad_magic}"),
     "is not an unsigned-byte idx file (bad magic number)"),
    ("image_generate", ("--set", "data.dataset=fashion_mnist", "--data-dir", "{fashion_mnist_truncated}"),
     "t10k-labels-idx1-ubyte.gz: header says shape (300,) but the file holds 250 values"),
    ("ood_eval", ("--set", "data.dataset=fashion_mnist", "--data-dir", "{fashion_mnist_label_11}"),
     "holds labels outside 0-9 (0 to 11)"),
    # ood_eval
    ("ood_eval", ("--ood-sets", "nope"), "--ood-sets: invalid choice: 'nope'"),
    ("ood_eval", ("--ood-sets", "fashion_mnist", "--ood-data-dir", "{empty_dir}"), "{empty_dir}"),
    ("ood_eval", ("--images", "0"), "--images: must be at least 1, got 0"),
    ("ood_eval", ("--images", "-5"), "--images: must be at least 1, got -5"),
    ("ood_eval", ("--images", "9000000"), "9,000,000 images per OOD set of (1, 28, 28) would need"),
    ("ood_eval", ("--data-dir", "{empty_dir}"), "{empty_dir}"),
    ("ood_eval", ("--checkpoint", "{cond_model}", "--preset", "cifar10"), "takes images (1, 28, 28)"),
    # robustness
    ("robustness", ("--linf-eps", "0", "-0.1"), "--linf-eps: must be 0 or more, got -0.1"),
    ("robustness", ("--linf-eps", "nan"), "--linf-eps: expected a finite number, got 'nan'"),
    ("robustness", ("--linf-eps", "inf"), "--linf-eps: expected a finite number, got 'inf'"),
    ("robustness", ("--l2-eps", "abc"), "--l2-eps: expected a number, got 'abc'"),
    ("robustness", ("--l2-eps", "-1"), "--l2-eps: must be 0 or more, got -1"),
    ("robustness", ("--eot", "0"), "--eot: must be at least 1, got 0"),
    ("robustness", ("--images", "0"), "--images: must be at least 1, got 0"),
    ("robustness", ("--classifier-steps", "0"), "--classifier-steps: must be at least 1, got 0"),
    ("robustness", ("--classifier-steps", str(10**10)), "--classifier-steps: 10,000,000,000 steps would take"),
    ("robustness", ("--checkpoint", "{uncond_model}"), "{uncond_model} is unconditional"),
    ("robustness", ("--data-dir", "{empty_dir}"), "{empty_dir}"),
    ("robustness", ("--linf-eps", "5"), "a budget above 1 (5.0) allows no more than 1 does"),
    ("robustness", ("--images", "10000000"), "10,000,000 images to attack, 200 held out"),
    # likelihood
    ("likelihood", ("--model-temperatures", "1e-320"), "temperatures: 1e-320 is below 1e-06"),
    ("likelihood", ("--chains", "10000000"), "AIS: 10,000,000 chains of (1, 28, 28) would need"),
    ("likelihood", ("--temperatures", "10000000"), "AIS: 10,000,000 temperatures take 120,000,012 HMC steps"),
    ("likelihood", ("--chains", "5000000", "--temperatures", "100000"), "more than a day at 100,000 a second"),
    ("likelihood", ("--chains", "0"), "--chains: must be at least 1, got 0"),
    ("likelihood", ("--chains", "1"), "num_chains must be at least 2 (a standard error over the chains), got 1"),
    ("likelihood", ("--temperatures", "0"), "--temperatures: must be at least 1, got 0"),
    ("likelihood", ("--temperatures", "x"), "--temperatures: expected a whole number, got 'x'"),
    ("likelihood", ("--model-temperatures", "0"), "--model-temperatures: must be > 0, got 0"),
    ("likelihood", ("--model-temperatures", "-1"), "--model-temperatures: must be > 0, got -1"),
    ("likelihood", ("--model-temperatures", "nan"), "--model-temperatures: expected a finite number, got 'nan'"),
    ("likelihood", ("--model-temperatures",), "--model-temperatures: expected at least one argument"),
    ("likelihood", ("--test-images", "0"), "--test-images: must be at least 1, got 0"),
    ("likelihood", ("--checkpoint", "{cond_model}"), "{cond_model} is conditional on 10 classes"),
    ("likelihood", ("--data-dir", "{empty_dir}"), "{empty_dir}"),
    # split_mnist
    ("split_mnist", ("--methods", "ebm,ebm"), "--methods ebm,ebm: SplitMNISTEvaluation.methods names ebm twice"),
    ("split_mnist", ("--methods", "ebm,nope"), "unknown ['nope']"),
    ("split_mnist", ("--methods", ","), "names no method"),
    ("split_mnist", ("--methods", ""), "names no method"),
    ("split_mnist", ("--seeds", "0"), "--seeds: must be at least 1, got 0"),
    ("split_mnist", ("--seeds", str(10**8)), "--seeds: 100,000,000 is over the limit"),
    ("split_mnist", ("--eval-per-class", "0"), "--eval-per-class: must be at least 1, got 0"),
    ("split_mnist", ("--train-per-class", "0"), "--train-per-class: must be at least 1, got 0"),
    ("split_mnist", ("--data", "nope"), "--data: invalid choice: 'nope'"),
    ("split_mnist", ("--data", "demo", "--data-dir", "{empty_dir}"), "{empty_dir}"),
    ("split_mnist", ("--data", "torchvision", "--data-dir", "{empty_dir}"), "{empty_dir}"),
    ("split_mnist", ("--data", "demo", "--data-dir", "{text}"), "{text}"),
    ("split_mnist", ("--seeds", "5000"), "SplitMNISTEvaluation.seeds: 5,000 runs of every method; at most 1000"),
    ("split_mnist", ("--train-per-class", "100000"), "to train on"),
    ("split_mnist", ("--device", "meta"), "--device: meta: the apps run on cpu, cuda or mps"),
    ("split_mnist", ("--task-order", "0,1/2,3"), "must split the digits 0-9 into tasks"),
    ("split_mnist", ("--task-order", "0,1/1,2/3,4,5,6,7,8,9"), "each digit in exactly one"),
    ("split_mnist", ("--task-order", "0,1/2,x"), "is not a task order like 0,1/2,3/4,5/6,7/8,9"),
    ("split_mnist", ("--data", "demo", "--eval-split", "validation"), "the demo data"),
    ("split_mnist", ("--eval-split", "train"), "--eval-split: invalid choice: 'train'"),
    ("split_mnist", ("--data", "mnist", "--data-dir", "{empty_dir}"), "MNIST train files not found"),
    ("split_mnist", ("--data", "demo", "--data-dir", "{mnist_label_11}"), "holds labels outside 0-9 (0 to 11)"),
    ("split_mnist", ("--data", "demo", "--data-dir", "{mnist_bad_magic}"), "bad magic number"),
    ("split_mnist", ("--data", "demo", "--data-dir", "{mnist_truncated}"), "but the file holds 250 values"),
    ("split_mnist", ("--set", "seed=4294967295", "--seeds", "2"), "4,294,967,295 is over the limit of 2,147,483,647"),
    ("split_mnist", ("--methods", "ebm_replay", "--set", "training.generative_replay.per_class=0"),
     "GenerativeReplay.per_class must be >= 1, got 0"),
    ("split_mnist", ("--set", "training.generative_replay.rounds=0"), "GenerativeReplay.rounds must be >= 1, got 0"),
    ("split_mnist", ("--set", "training.generative_replay.rounds=2001"),
     "Langevin steps per generated sample, over the limit of 10,000"),
    ("split_mnist", ("--methods", "ebm_replay", "--set", "training.generative_replay.per_class=9000000"),
     "generative replay's 9,000,000 samples of each digit in"),
    ("image_generate", ("--device", "meta"), "--device: meta: the apps run on cpu, cuda or mps"),
    ("image_generate", ("--checkpoint", "{fifo}"), "is not a regular file"),
    ("image_generate", ("--checkpoint", "/dev/null"), "is not a regular file"),
    ("image_generate", ("--checkpoint", "{model_sparse}"), "(torch.sparse_coo), not a dense real floating-point"),
    ("image_generate", ("--inception-weights", "{tensor_dict}"), "do not fit torch-fidelity's InceptionV3"),
    # hand_rollout
    ("hand_rollout", ("--set", "training.device=banana"), "not a torch device: 'banana'"),
    ("hand_rollout", ("--set", "training.device=meta"), "the apps run on cpu, cuda or mps"),
    ("hand_rollout", ("--set", "training.lr=1e300"), "1e+300 is beyond float32's range"),
    ("hand_rollout", ("--set", "training.batch_size=100000"), "batch size 100,000 exceeds the 200 training"),
    ("hand_rollout", ("--set", "training.steps=100000000000"), "100,000,000,000 is over the limit of 86,400,000"),
    ("hand_rollout", ("--set", "sampler.train.steps=1000000000000"), "is over the limit of 10,000"),
    ("hand_rollout", ("--set", "model.hidden=(100000, 100000)"), "at most 8 widths of at most 2048"),
    ("hand_rollout", ("--set", "training.buffer_size=100000000000"), "is over the limit of 10,000,000"),
    ("hand_rollout", ("--train", "0"), "--train: must be at least 1, got 0"),
    ("hand_rollout", ("--validation", "-1"), "--validation: must be 0 or more, got -1"),
    ("hand_rollout", ("--test", "x"), "--test: expected a whole number, got 'x'"),
    ("hand_rollout", ("--train", str(10**8)), "--train: 100,000,000 is over the limit"),
    ("hand_rollout", ("--train", "9000000", "--no-render"), "trajectories of 10 steps would need"),
    ("hand_rollout", ("--workers", "0"), "--workers: must be at least 1, got 0"),
    ("hand_rollout", ("--workers", "100000"), "100000 generation workers on a machine with"),
    ("hand_rollout", ("--eval-split", "train"), "--eval-split: invalid choice: 'train'"),
    ("hand_rollout", ("--models", "nope"), "nope"),
    ("hand_rollout", ("--models", "ebm_uncond,ebm_uncond"), "ebm_uncond"),
    ("hand_rollout", ("--set", "training.steps"), "expected path.to.field=value"),
    ("hand_rollout", ("--set", "training.nofield=1"), "has no field 'nofield'"),
    ("hand_rollout", ("--set", "training.steps=abc"), "expected a value like"),
    ("hand_rollout", ("--set", "training.steps=-1"), "training.steps=-1"),
    ("hand_rollout", ("--set", "training=1"), "that is a group of settings"),
    ("hand_rollout", ("--set", "data.seed=4294967296"), "every seed of a run comes from its top-level seed"),
    ("hand_rollout", ("--data-dir", "{file_as_out}"), "{file_as_out} is a file"),
    ("hand_rollout", ("--data-dir", "{other_manifest}"), "holds trajectories generated with"),
    ("hand_rollout", ("--data-dir", "{old_manifest}"), "expected format 'ebm-robotics-trajectories/"),
    ("hand_rollout", ("--data-dir", "{list_manifest}"), "is not a JSON object"),
    ("hand_rollout", ("--data-dir", "{text_manifest}"), "is not valid JSON"),
    # dsprites_compose
    ("dsprites_compose", ("--data-dir", "{empty_dir}"), "{empty_dir}"),
    ("dsprites_compose", ("--data-dir", "{text}"), "{text}"),
    ("dsprites_compose", ("--seeds", "0"), "--seeds: must be at least 1, got 0"),
    ("dsprites_compose", ("--set", "evaluation.weight_candidates=(0.5, 0.0)"),
     "DSpritesEvaluation.weight_candidates must be > 0"),
    ("dsprites_compose", ("--set", "training.workers=0"), "DSpritesTraining.workers must be >= 1"),
    # celeba_compose
    ("celeba_compose", (), "give --data-dir DATA_DIR (CelebA files in DATA_DIR/celeba/) or --synthetic"),
    ("celeba_compose", ("--synthetic", "--data-dir", "{empty_dir}"), "not both"),
    ("celeba_compose", ("--data-dir", "{empty_dir}"), "{empty_dir}"),
]


CASES = [case for app in APPS for case in _common(app)]
CASES += [case for app in IMAGE_APPS for case in _model_files(app)]
CASES += [pytest.param(app, ("--preset", "tiny", *args), fragment, id=f"{app}:{' '.join(args)}")
          for app, args, fragment in SPECIFIC]


def test_the_table_holds_at_least_200_bad_inputs():
    assert len(CASES) >= 200, len(CASES)


@pytest.mark.parametrize(("app", "args", "fragment"), CASES)
def test_a_bad_input_is_one_line_and_exit_2_with_nothing_written(app, args, fragment, tmp_path, no_run_starts):
    _check(app, args, fragment, tmp_path)


# ----------------------------------------------------------------- the public API's misuses
def _api_cases() -> list:
    import ebm_core as ec
    import ebm_run as er
    from ebm_continual import MNISTSplit, SplitMNISTConfig, SplitMNISTData, SplitMNISTEvaluation
    from ebm_core.checkpoint import load_torch_file
    from ebm_core.checks import check_energy_output
    from ebm_robotics.generate import GenerationConfig
    from ebm_vision.image_energy import ImageEnergyConfig

    e = ec.MLPEnergy(2, hidden=(4,))
    broken = ec.MLPEnergy(2, hidden=(4,))
    with torch.no_grad():
        for p in broken.parameters():
            p.fill_(float("nan"))
    x = torch.zeros(3, 2)
    nan = float("nan")
    rows = [
        ("LangevinSampler(steps=-1)", lambda: ec.LangevinSampler(steps=-1), ValueError, "LangevinSampler.steps"),
        ("LangevinSampler(step_size=0)", lambda: ec.LangevinSampler(step_size=0.0), ValueError, "step_size"),
        ("LangevinSampler(step_size=nan)", lambda: ec.LangevinSampler(step_size=nan), ValueError, "step_size"),
        ("LangevinSampler(noise_std=-1)", lambda: ec.LangevinSampler(noise_std=-1.0), ValueError, "noise_std"),
        ("LangevinSampler(temperature=0)", lambda: ec.LangevinSampler(temperature=0.0), ValueError, "temperature"),
        ("LangevinSampler(grad_clip=0)", lambda: ec.LangevinSampler(grad_clip=0.0), ValueError, "grad_clip"),
        ("LangevinSampler(clamp=(1, 0))", lambda: ec.LangevinSampler(clamp=(1.0, 0.0)), ValueError, "clamp"),
        ("sampler on NaN energies", lambda: ec.LangevinSampler(steps=2, check_finite=True)(broken, x.clone()),
         ec.NonFiniteError, "Langevin samples (2 steps of"),
        ("ReplayBuffer(capacity=0)", lambda: ec.ReplayBuffer((2,), capacity=0), ValueError, "capacity"),
        ("ReplayBuffer(replay_prob=2)", lambda: ec.ReplayBuffer((2,), replay_prob=2.0), ValueError, "replay_prob"),
        ("TrainerConfig(batch_size=0)", lambda: ec.TrainerConfig(batch_size=0), ValueError, "batch_size"),
        ("TrainerConfig(steps=-1)", lambda: ec.TrainerConfig(steps=-1), ValueError, "steps"),
        ("seed_everything(-1)", lambda: ec.seed_everything(-1), ValueError, "seed must be a whole number"),
        ("seed_everything(2**32)", lambda: ec.seed_everything(2**32), ValueError, "seed must be a whole number"),
        ("seed_everything(1.5)", lambda: ec.seed_everything(1.5), ValueError, "seed must be a whole number"),
        ("seed_everything(True)", lambda: ec.seed_everything(True), ValueError, "seed must be a whole number"),
        ("frechet_distance of other shapes", lambda: ec.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3),
                                                                          np.eye(3)), ValueError, "shapes must be"),
        ("gaussian_fit of one sample", lambda: ec.gaussian_fit(np.zeros((1, 2))), ValueError,
         "need samples of shape (N >= 2, D), got (1, 2)"),
        ("gaussian_fit of NaN samples", lambda: ec.gaussian_fit(np.full((3, 2), nan)), ValueError,
         "samples contain NaN or inf values"),
        ("auroc of NaN scores", lambda: ec.auroc(np.array([nan, 1.0]), np.array([0.0, 1.0])), ec.NonFiniteError,
         "AUROC: the positive scores"),
        ("check_finite of inf", lambda: ec.check_finite(torch.tensor([1.0, float("inf")]), "energies"),
         ec.NonFiniteError, "energies: 1 of 2 values"),
        ("check_memory over the machine", lambda: er.check_memory("a test", 2.0**60), ValueError,
         "a test would need"),
        ("check_memory over a given figure", lambda: er.check_memory("arrays", 3 * 2**30, available=2**30),
         ValueError, "arrays would need 3.0 GiB of memory; this machine has 1.0 GiB"),
        ("load_torch_file of a folder", lambda: load_torch_file(ROOT), ValueError, "is a folder; give the file"),
        ("apply_overrides without =", lambda: er.apply_overrides(ec.TrainerConfig(), ["steps"]), ValueError,
         "expected path.to.field=value"),
        ("apply_overrides of an unknown field", lambda: er.apply_overrides(ec.TrainerConfig(), ["nope=1"]),
         ValueError, "has no field 'nope'"),
        ("apply_overrides of a wrong type", lambda: er.apply_overrides(ec.TrainerConfig(), ["steps='x'"]),
         ValueError, "expected a value like"),
        ("MLPEnergy output of (B, 1)", lambda: check_energy_output(torch.zeros(3, 1), x), ValueError,
         "must return shape (3,)"),
        ("energy of the wrong width", lambda: e(torch.zeros(3, 5)), ValueError, "x must have shape (B, 2), got (3, 5)"),
        ("SplitMNISTEvaluation(methods=('ebm', 'ebm'))", lambda: SplitMNISTEvaluation(methods=("ebm", "ebm")),
         ValueError, "names ebm twice"),
        ("SplitMNISTEvaluation(methods=('nope',))", lambda: SplitMNISTEvaluation(methods=("nope",)), ValueError,
         "unknown ['nope']"),
        ("SplitMNISTEvaluation(seeds=0)", lambda: SplitMNISTEvaluation(seeds=0), ValueError, "seeds"),
        ("SplitMNISTConfig(seed=2**32 - 1, seeds=2)",
         lambda: SplitMNISTConfig(seed=2**32 - 1, evaluation=SplitMNISTEvaluation(seeds=2)), ValueError,
         "go past the generators' range"),
        ("SplitMNISTData(tasks=((0, 1),))", lambda: SplitMNISTData(tasks=((0, 1),)), ValueError,
         "must split the digits 0-9"),
        ("SplitMNISTConfig(evaluation=...(seeds=0))",
         lambda: SplitMNISTConfig(evaluation=SplitMNISTEvaluation(seeds=0)), ValueError,
         "SplitMNISTEvaluation.seeds must be >= 1"),
        ("MNISTSplit with label 10", lambda: MNISTSplit(torch.zeros(2, 784), torch.tensor([1, 10]),
                                                        torch.zeros(1, 784), torch.tensor([0]), "test"),
         ValueError, "the training labels hold [10], outside the digits 0-9"),
        ("MNISTSplit with label -1", lambda: MNISTSplit(torch.zeros(1, 784), torch.tensor([1]),
                                                        torch.zeros(1, 784), torch.tensor([-1]), "test"),
         ValueError, "the eval labels hold [-1]"),
        ("MNISTSplit of unequal lengths", lambda: MNISTSplit(torch.zeros(3, 784), torch.tensor([1]),
                                                             torch.zeros(1, 784), torch.tensor([1]), "test"),
         ValueError, "3 training images but 1 labels"),
        ("GenerationConfig(num_train=0)", lambda: GenerationConfig(num_train=0), ValueError, "num_train"),
        ("GenerationConfig(seed=2**32)", lambda: GenerationConfig(num_train=1, seed=2**32), ValueError, "seed"),
        ("GenerationConfig(random_action_prob=2)", lambda: GenerationConfig(num_train=1, random_action_prob=2.0),
         ValueError, "random_action_prob"),
        ("ImageEnergyConfig(arch='nope')", lambda: ImageEnergyConfig(arch="nope"), ValueError, "arch must be"),
        ("ImageEnergyConfig(num_classes=-1)", lambda: ImageEnergyConfig(num_classes=-1), ValueError, "num_classes"),
        ("ImageEnergyConfig(dropout=1)", lambda: ImageEnergyConfig(dropout=1.0), ValueError, "dropout"),
        ("LangevinSampler(clamp='ab')", lambda: ec.LangevinSampler(clamp="ab"), ValueError, "clamp must be"),
        ("sampler given a function", lambda: ec.LangevinSampler(steps=1)(lambda s, y=None: s.sum(1), x.clone()),
         TypeError, "energy must be an nn.Module"),
        ("sampler given an empty batch", lambda: ec.LangevinSampler(steps=1)(e, torch.zeros(0, 2)), ValueError,
         "x0 must have shape (B, ...) with B >= 1"),
        ("ReplayBuffer(sample_shape=4)", lambda: ec.ReplayBuffer(4), ValueError, "sample_shape must be"),
        ("ReplayBuffer(sample_shape=(-1,))", lambda: ec.ReplayBuffer((-1,)), ValueError, "sample_shape must be"),
        ("ReplayBuffer.latest(-5)", lambda: ec.ReplayBuffer((2,), capacity=4).latest(-5), ValueError, "latest(n)"),
        ("ReplayBuffer.latest(2.5)", lambda: ec.ReplayBuffer((2,), capacity=4).latest(2.5), ValueError,
         "must be an integer"),
        ("ReplayBuffer.load_state_dict of junk", lambda: ec.ReplayBuffer((2,)).load_state_dict({"a": 1}), ValueError,
         "a replay buffer state needs"),
        ("ReplayBuffer.load_state_dict of another shape", lambda: ec.ReplayBuffer((4,)).load_state_dict(
            ec.ReplayBuffer((5,)).state_dict()), ValueError, "checkpoint buffer samples are (5,)"),
        ("TrainerConfig(device='banana')", lambda: ec.TrainerConfig(device="banana"), ValueError,
         "not a torch device: 'banana'"),
        ("TrainerConfig(objective='ml')", lambda: ec.TrainerConfig(objective="ml"), ValueError,
         "must be an ObjectiveConfig"),
        ("Trainer(energy=lambda)", lambda: ec.Trainer(lambda s, y=None: s.sum(1), ec.LangevinSampler(), x),
         TypeError, "Trainer: energy must be an nn.Module"),
        ("Trainer(sampler=None)", lambda: ec.Trainer(e, None, x), TypeError, "Trainer: sampler must be a Sampler"),
        ("Trainer(config=dict)", lambda: ec.Trainer(e, ec.LangevinSampler(), x, {"steps": 1}), TypeError,
         "Trainer: config must be a TrainerConfig"),
        ("Trainer on 1-D data", lambda: ec.Trainer(e, ec.LangevinSampler(), torch.zeros(16),
                                                    ec.TrainerConfig(batch_size=4)), ValueError,
         "training data x must be (N, ...) with a feature dimension"),
        ("load_torch_file(None)", lambda: load_torch_file(None), TypeError, "expected a path"),
        ("start_run_folder(app='')", lambda: er.start_run_folder(ROOT / "runs" / "never", ""), ValueError,
         "app must name the app"),
        ("start_run_folder(settings=[1, 2])", lambda: er.start_run_folder(ROOT / "runs" / "never", "a", settings=[1]),
         ValueError, "settings must be a dict"),
        ("start_run_folder(settings with NaN)", lambda: er.start_run_folder(ROOT / "runs" / "never", "a",
                                                                             settings={"a": nan}),
         ValueError, "settings that JSON cannot hold"),
    ]
    return [pytest.param(call, exc, fragment, id=name) for name, call, exc, fragment in rows]


@pytest.mark.parametrize(("call", "exception", "fragment"), _api_cases())
def test_an_api_misuse_raises_the_documented_exception_in_one_line(call, exception, fragment):
    with pytest.raises(exception) as err:
        call()
    assert not (ROOT / "runs" / "never").exists()
    assert fragment in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_seed_everything_takes_numpys_integers():
    from ebm_core import seed_everything

    seed_everything(np.int64(3))
    first = torch.rand(2)
    seed_everything(3)
    assert torch.equal(first, torch.rand(2))


def test_a_read_only_or_full_disk_is_one_line_naming_the_folder(tmp_path, monkeypatch):
    import errno

    def refuse(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    out = tmp_path / "out"
    proc = call_app("ood_eval", "--preset", "tiny", "--out", str(out))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("ood_eval: error (OSError): [Errno 30] Read-only file system") and str(out) in lines[0]
    assert not out.exists()
