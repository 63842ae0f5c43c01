"""A model that gives NaN energies stops an evaluation app with one line naming the model and the
stage (exit status 2): never an AUROC of 0.000 or bounds of [nan, nan] with exit status 0."""

import math

import torch
from app_runner import call_app


def test_a_nan_model_file_stops_ood_eval_with_one_line(tmp_path):
    from ebm_vision.evaluation import OOD_PRESETS
    from ebm_vision.image_energy import build_energy, save_image_energy

    config = OOD_PRESETS["tiny"].model
    energy = build_energy(config)
    with torch.no_grad():
        for p in energy.parameters():
            p.fill_(math.nan)
    model = save_image_energy(energy, config, tmp_path / "nan.pt")
    proc = call_app("ood_eval", "--preset", "tiny", "--checkpoint", str(model), "--out", str(tmp_path / "o"),
                    "--quiet")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    (line,) = proc.stderr.strip().splitlines()  # refused when read: NaN weights, before any run folder
    assert line.startswith(f"ood_eval: error (ValueError): model file {model} cannot be used: its state_dict entry")
    assert "holds NaN or infinite values" in line and not (tmp_path / "o").exists()


def test_a_model_whose_energies_overflow_stops_ood_eval_naming_the_stage(tmp_path):
    from ebm_vision.evaluation import OOD_PRESETS
    from ebm_vision.image_energy import build_energy, save_image_energy

    config = OOD_PRESETS["tiny"].model
    energy = build_energy(config)
    with torch.no_grad():  # finite weights whose energies are not: inf - inf = NaN
        for name, p in energy.named_parameters():
            if name.endswith("bias"):
                p.fill_(3e38)
    model = save_image_energy(energy, config, tmp_path / "overflow.pt")
    proc = call_app("ood_eval", "--preset", "tiny", "--checkpoint", str(model), "--out", str(tmp_path / "o"),
                    "--quiet")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    first = proc.stderr.strip().splitlines()[0]
    assert first.startswith(f"ood_eval: error (NonFiniteError): OOD scores of {model} on the in-distribution images")
    assert not (tmp_path / "o" / "results.json").exists()
