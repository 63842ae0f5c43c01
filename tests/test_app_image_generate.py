"""End to end: `uv run apps/image_generate --preset tiny` on real MNIST digits writes every output,
resumes, and evaluates a saved model with --checkpoint."""

import json

import torch
from app_runner import call_app, run_app

APP = "image_generate"
FIGURES = {"samples.png", "samples_ensemble.png", "samples_one_chain.png", "replay_buffer.png", "chain_strip.png",
           "restoration.png", "cross_class.png", "energy_histogram.png", "nearest_neighbours.png"}


def test_image_generate_tiny_end_to_end_resume_and_checkpoint(tmp_path):
    out = tmp_path / "run"
    common = ("--preset", "tiny", "--quiet", "--seed", "3")  # --data-dir defaults to the shared MNIST folder
    proc = run_app(APP, *common, "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines()[0] == f"{APP}: run folder {out}"  # the first line, before any work
    assert proc.stdout.splitlines()[1] == f"{APP}: watch it with: uv run tensorboard --logdir {out}"
    assert (out / "training_curves.png").stat().st_size > 10_000  # every trained model's curves
    grids = sorted((out / "samples").glob("step_*.png"))  # the buffer's newest samples, 10 times over the run
    assert len(grids) >= 2 and all(g.stat().st_size > 1_000 for g in grids)
    results = json.loads((out / "results.json").read_text())
    assert results["training"]["steps"] == 6 and results["seed"] == 3
    assert results["data"].startswith("mnist train split (")  # the shared folder holds the full MNIST
    fid = results["scores"]["domain_fid"]
    assert fid["real_train_images"] < fid["uniform_noise"]  # the domain FID separates real digits from noise
    # the single model is one network with the mean weights of the ensemble's 2 snapshots (a model
    # other than the last weights, whose samples are scored beside it)
    assert results["single_model"] == "the mean of the weights of the last 2 snapshots"
    assert {"test_time_sampling", "test_time_sampling_last_weights"} <= set(fid)
    from ebm_vision import load_image_energy

    probe = torch.rand(6, 1, 28, 28), torch.arange(6)
    averaged, last = (load_image_energy(out / "model.pt", average=a)[0] for a in (True, False))
    assert not torch.allclose(averaged(*probe), last(*probe), atol=1e-5)
    inception = results["scores"]["inception"]  # the single model and the ensemble, as in Table 4
    assert set(inception) == {"test_time_sampling", "test_time_sampling_ensemble"}
    assert all(v == {"inception_score": "skipped: no Inception weights", "fid": "skipped: no Inception weights"}
               for v in inception.values())
    assert set(results["restoration"]) == {"salt_and_pepper", "inpainting", "ground_truth"}
    for m in results["restoration"].values():
        assert {"mse_before", "mse_after", "psnr_before", "psnr_after", "class_changed"} <= set(m)
    assert results["restoration"]["ground_truth"]["mse_before"] == 0.0
    assert FIGURES <= set(results["figures"])
    import numpy as np

    with np.load(out / "samples.npz", allow_pickle=False) as saved:  # the scored samples, as data
        images, labels = saved["images"], saved["labels"]
    n = results["samples"]["n"]
    assert images.dtype == np.uint8 and images.shape == (n, 1, 28, 28) and images.max() > 128
    assert labels.dtype == np.int64 and labels.tolist() == [i % 10 for i in range(n)]
    cond = results["scores"]["conditional_accuracy"]  # which classifier scored the classes, and per class
    assert "DomainClassifier" in cond["classifier"]
    assert cond["classifier_test_accuracy"] == results["classifier_test_accuracy"]
    assert set(cond["test_time_sampling_per_class"]) == {str(c) for c in range(10)}
    per_class = list(cond["test_time_sampling_per_class"].values())
    assert abs(sum(per_class) / 10 - cond["test_time_sampling"]) < 1e-6  # equal samples per class
    judge = cond["reference_classifier"]  # the independent judge, trained apart from the EBM and the domain classifier
    assert "ReferenceClassifier" in judge["classifier"] and set(judge["test_time_sampling_per_class"]) == set(
        cond["test_time_sampling_per_class"]) and 0 <= judge["test_time_sampling"] <= 1
    assert (out / "reference_classifier.pt").exists()
    assert all((out / f).stat().st_size > 500 for f in FIGURES)
    assert (out / "checkpoint.pt").exists() and (out / "model.pt").exists()
    assert "salt_and_pepper: MSE" in proc.stdout

    # resume: training is already complete, so the same model is evaluated with the same seed
    clf = out / "classifier.pt"
    saved = torch.load(clf, weights_only=True)["config"]  # the domain classifier keeps what made it
    assert saved["kind"] == "domain classifier" and saved["seed"] == 3 and saved["steps"] > 0
    made = clf.stat().st_mtime_ns
    again = run_app(APP, *common, "--out", str(out), "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert clf.stat().st_mtime_ns == made  # reused under the same settings, not trained again
    resumed = json.loads((out / "results.json").read_text())
    assert resumed["restoration"] == results["restoration"]
    assert resumed["scores"]["domain_fid"] == results["scores"]["domain_fid"]

    # --checkpoint: evaluate the saved model without training
    other = tmp_path / "eval"
    ev = run_app(APP, *common, "--out", str(other), "--checkpoint", str(out / "model.pt"))
    assert ev.returncode == 0, ev.stderr[-3000:]
    loaded = json.loads((other / "results.json").read_text())
    assert loaded["checkpoint"].endswith("model.pt") and "training" not in loaded
    assert loaded["single_model"] == results["single_model"]  # the model file's snapshots, averaged alike
    # the very same single model in both paths: its energies of the same real images agree (the trained
    # run's evaluation is thus of the weight average the model file gives, not of the last weights)
    for key in ("train_mean", "test_mean", "train_std"):
        a, b = loaded["energy_train_vs_test"][key], results["energy_train_vs_test"][key]
        assert abs(a - b) <= 1e-5 * max(1.0, abs(b)), (key, a, b)
    assert "test_time_sampling_last_weights" in loaded["scores"]["conditional_accuracy"]["reference_classifier"]


def test_missing_data_is_a_clear_error(tmp_path):
    proc = call_app(APP, "--preset", "tiny", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet")
    assert proc.returncode != 0
    assert "FileNotFoundError" in proc.stderr and "--data-dir" in proc.stderr
    assert "t10k-images-idx3-ubyte" in proc.stderr
