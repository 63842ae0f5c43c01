import copy
import dataclasses
import json
import math
import sys

import pytest
import torch
from ebm_core import (
    LangevinSampler,
    MLPEnergy,
    ObjectiveConfig,
    Trainer,
    TrainerConfig,
    TrainingDiverged,
)
from torch import nn

CENTRES = torch.tensor([[1.5 * math.cos(k * math.pi / 4), 1.5 * math.sin(k * math.pi / 4)] for k in range(8)])


def ring(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    k = torch.randint(0, 8, (n,), generator=g)
    return CENTRES[k] + 0.1 * torch.randn(n, 2, generator=g)


SAMPLER = LangevinSampler(steps=20, step_size=0.1, noise_std=0.01, grad_clip=None, clamp=(-2.0, 2.0))


def test_trained_ebm_covers_all_eight_modes():
    x = ring(2000)
    torch.manual_seed(0)  # the model's init (torch seeds its default generator at random per process)
    energy = MLPEnergy(2, hidden=(64, 64, 64), spectral_norm=False)
    Trainer(energy, SAMPLER, (x, None), TrainerConfig(steps=300, lr=1e-3, quiet=True)).train()
    torch.manual_seed(1)
    x0 = torch.rand(2000, 2) * 4 - 2
    samples = dataclasses.replace(SAMPLER, steps=200)(energy, x0)
    dist_before = torch.cdist(x0, x).min(1).values.mean()
    dist_after = torch.cdist(samples, x).min(1).values.mean()
    share = torch.bincount(torch.cdist(samples, CENTRES).argmin(1), minlength=8).float() / len(samples)
    assert dist_after < 0.4 * dist_before, (dist_before, dist_after)
    # Uniform would be 0.125 per mode; a dropped mode holds ~0. Over model inits 0-7 the smallest
    # share ranged 0.034-0.087.
    assert share.min() > 0.03, share


def small_trainer(out_dir, steps=12, **kw) -> Trainer:
    torch.manual_seed(123)  # model init; the trainer seeds everything else
    energy = MLPEnergy(2, hidden=(16, 16))
    kw = {"lr": 1e-3, "quiet": True, **kw}
    cfg = TrainerConfig(steps=steps, batch_size=32, checkpoint_every=6, log_every=1, buffer_size=100, **kw)
    return Trainer(energy, dataclasses.replace(SAMPLER, steps=5), (ring(256), None), cfg, out_dir=out_dir)


def test_resume_restores_the_logged_history(tmp_path):
    """A resumed Trainer's history is the logged one up to its checkpoint (so history[-1] is the
    last logged step even when nothing is left to train)."""
    small_trainer(tmp_path, steps=6).train()  # an earlier run, started again afresh in the same folder:
    first = small_trainer(tmp_path, steps=6)  # its log lines stay in metrics.jsonl before this run's
    logged = first.train()
    again = small_trainer(tmp_path, steps=6)
    assert again.resume() and again.train() == []
    assert [h["step"] for h in again.history] == [1, 2, 3, 4, 5, 6]
    assert again.history == [{**h, "step": int(h["step"])} for h in logged]


def test_resume_continues_exactly(tmp_path):
    straight = small_trainer(tmp_path / "a")
    losses_straight = [d["loss"] for d in straight.train()]
    interrupted = small_trainer(tmp_path / "b")
    first = [d["loss"] for d in interrupted.train(steps=6)]
    with (tmp_path / "b" / "metrics.jsonl").open("a") as f:
        f.write('{"step": 7, "lo')  # torn by a kill mid-write: dropped on resume
    resumed = small_trainer(tmp_path / "b")
    assert resumed.resume()
    assert resumed.step == 6
    rest = [d["loss"] for d in resumed.train()]
    assert first + rest == losses_straight
    for a, b in zip(straight.energy.parameters(), resumed.energy.parameters()):
        assert torch.equal(a, b)
    steps_logged = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps_logged == list(range(1, 13))


def test_resume_refuses_other_settings_but_allows_more_steps(tmp_path):
    small_trainer(tmp_path, steps=6).train()
    longer = small_trainer(tmp_path, steps=9)  # more steps (or another device, cadence): fine
    assert longer.resume() and longer.step == 6
    assert longer.train()[-1]["step"] == 9
    with pytest.raises(ValueError, match=r"other settings \(config.lr: 0.001 -> 0.0003\)"):
        small_trainer(tmp_path, steps=9, lr=3e-4).resume()
    other_sampler = small_trainer(tmp_path, steps=9)
    other_sampler.sampler = dataclasses.replace(other_sampler.sampler, steps=7)
    with pytest.raises(ValueError, match="sampler.steps: 5 -> 7"):
        other_sampler.resume()
    fewer_rows = small_trainer(tmp_path, steps=9)
    fewer_rows.stream = type(fewer_rows.stream)((ring(200), None), 32)
    with pytest.raises(ValueError, match="training examples: 256 -> 200"):
        fewer_rows.resume()
    wider = small_trainer(tmp_path, steps=9)
    wider.energy = MLPEnergy(2, hidden=(32, 16))
    with pytest.raises(ValueError, match="does not fit this energy"):
        wider.resume()


def test_checkpoint_is_written_atomically(tmp_path, monkeypatch):
    """A save that dies half-way (here: after a few bytes) leaves the previous checkpoint whole."""
    t = small_trainer(tmp_path, steps=6)
    t.train()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left

    def dies_half_way(obj, f):
        f.write(b"torn")
        raise OSError("disk full")

    monkeypatch.setattr("ebm_core.checkpoint.torch.save", dies_half_way)
    t.step = 7
    with pytest.raises(OSError, match="disk full"):
        t.save_checkpoint()
    monkeypatch.undo()
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 6
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left


class Exploding(nn.Module):
    """An energy whose output becomes huge once ``armed``."""

    def __init__(self):
        super().__init__()
        self.inner = MLPEnergy(2, hidden=(8,))
        self.armed_until = 0

    def forward(self, x, y=None):
        e = self.inner(x)
        return e * 1e9 if self.armed_until > 0 else e


def test_divergence_rolls_back_then_stops_with_clear_error():
    torch.manual_seed(0)
    energy = Exploding()
    cfg = TrainerConfig(steps=20, batch_size=16, checkpoint_every=5, quiet=True, max_recoveries=3, buffer_size=64)
    trainer = Trainer(energy, dataclasses.replace(SAMPLER, steps=2), (ring(64), None), cfg)
    trainer.train(steps=7)
    good = {k: v.detach().clone() for k, v in energy.named_parameters()}
    energy.armed_until = 1  # every later step diverges
    with pytest.raises(TrainingDiverged, match="after 3 roll-backs"):
        trainer.train()
    assert trainer.step == 7  # rolled back to the last good state (saved when train(7) returned)
    for k, v in energy.named_parameters():  # the diverged updates were never kept
        assert torch.equal(good[k], v), k


def test_single_divergence_recovers_and_finishes(tmp_path):
    torch.manual_seed(0)
    energy = Exploding()
    calls = {"n": 0}
    original = energy.forward

    def flaky(x, y=None):
        calls["n"] += 1
        out = original(x, y)
        return out * float("nan") if calls["n"] == 20 else out  # 3 calls a step: step 7 diverges

    energy.forward = flaky
    cfg = TrainerConfig(steps=12, batch_size=16, checkpoint_every=4, log_every=1, quiet=True, buffer_size=64)
    trainer = Trainer(energy, dataclasses.replace(SAMPLER, steps=2), (ring(64), None), cfg, out_dir=tmp_path)
    history = trainer.train()
    assert trainer.step == 12 and trainer.recoveries == 1
    # Steps 5 and 6 were rolled back to the step-4 checkpoint and trained again: each is in the
    # history and the metrics log once, from its second training.
    assert [d["step"] for d in history] == list(range(1, 13))
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [d["step"] for d in logged] == list(range(1, 13))
    assert [d["loss"] for d in logged] == pytest.approx([d["loss"] for d in history])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_on_cuda_continues_exactly(tmp_path):
    """Checkpoints hold CPU RNG states: resume must not map them to the GPU (set_rng_state refuses)."""
    def trainer(out):
        torch.manual_seed(123)
        cfg = TrainerConfig(steps=8, batch_size=32, checkpoint_every=4, log_every=1, quiet=True, buffer_size=100,
                            device="cuda")
        return Trainer(MLPEnergy(2, hidden=(16, 16)), dataclasses.replace(SAMPLER, steps=5), (ring(256), None),
                       cfg, out_dir=out)

    straight = [d["loss"] for d in trainer(tmp_path / "a").train()]
    first = [d["loss"] for d in trainer(tmp_path / "b").train(steps=4)]
    resumed = trainer(tmp_path / "b")
    assert resumed.resume() and resumed.step == 4
    assert first + [d["loss"] for d in resumed.train()] == pytest.approx(straight)


def test_kl_term_adds_a_gradient_through_the_chain():
    torch.manual_seed(0)
    x = ring(64)
    cfg = TrainerConfig(steps=1, batch_size=16, quiet=True, objective=ObjectiveConfig(kl_coeff=1.0), buffer_size=64)
    sampler = dataclasses.replace(SAMPLER, steps=3)
    grads = []
    for kl in (0.0, 1.0):
        torch.manual_seed(0)
        energy = MLPEnergy(2, hidden=(8,))
        t = Trainer(energy, sampler, (x, None), dataclasses.replace(cfg, objective=ObjectiveConfig(kl_coeff=kl)))
        diag = t.train_step()
        grads.append(torch.cat([p.grad.flatten() for p in energy.parameters()]))
    assert "kl" in diag
    assert not torch.allclose(grads[0], grads[1])


def test_historical_ensemble_averages_snapshots():
    """The ensemble keeps copies of the weights at steps 6, 9 and 12 (every 3rd step, last 3), not
    references to the live weights, and its energy is their average."""
    torch.manual_seed(0)
    cfg = TrainerConfig(steps=12, batch_size=16, quiet=True, ensemble_size=3, ensemble_every=3, buffer_size=64)
    seen: dict[int, dict[str, torch.Tensor]] = {}
    t = Trainer(MLPEnergy(2, hidden=(8,)), dataclasses.replace(SAMPLER, steps=2), (ring(64), None), cfg,
                callback=lambda step, tr: seen.update({step: copy.deepcopy(tr.energy.state_dict())}), callback_every=1)
    t.train()
    assert len(t.snapshots) == 3
    for snap, step in zip(t.snapshots, (6, 9, 12)):
        assert all(torch.equal(snap[k], seen[step][k]) for k in snap)
    assert not torch.equal(t.snapshots[0]["net.2.weight"], t.snapshots[2]["net.2.weight"])
    ens = t.ensemble_energy()
    x = torch.randn(5, 2)
    members = []
    for sd in t.snapshots:
        m = MLPEnergy(2, hidden=(8,))
        m.load_state_dict(sd)
        members.append(m(x))
    assert not torch.allclose(members[0], members[2])
    assert torch.allclose(ens(x), torch.stack(members).mean(0), atol=1e-6)


def test_conditional_training_with_stored_labels():
    torch.manual_seed(0)
    y = torch.randn(128, 3)
    x = y[:, :2] + 0.05 * torch.randn(128, 2)
    cfg = TrainerConfig(steps=3, batch_size=16, quiet=True, buffer_labels=True, buffer_size=64)
    t = Trainer(MLPEnergy(2, hidden=(8,), cond_dim=3), dataclasses.replace(SAMPLER, steps=2), (x, y), cfg,
                init_fn=lambda xp, yp: yp[:, :2].clone())
    t.train()
    assert t.buffer.labels is not None and len(t.buffer) == 48
    # Without Langevin moves each negative is its initial state: a fresh one made from its own
    # condition, or a replayed one, which must come back with the condition it was stored with.
    t = Trainer(MLPEnergy(2, hidden=(8,), cond_dim=3), dataclasses.replace(SAMPLER, steps=0), (x, y), cfg,
                init_fn=lambda xp, yp: yp[:, :2].clone())
    t.train()
    assert torch.equal(t.buffer.samples[:48], t.buffer.labels[:48, :2])


def test_bad_data_is_explained():
    with pytest.raises(ValueError, match="NaN"):
        Trainer(MLPEnergy(2, hidden=(4,)), SAMPLER, (torch.full((64, 2), float("nan")), None),
                TrainerConfig(batch_size=8, quiet=True))
    with pytest.raises(ValueError, match="batch_size"):
        Trainer(MLPEnergy(2, hidden=(4,)), SAMPLER, (torch.zeros(4, 2), None), TrainerConfig(batch_size=8, quiet=True))


def test_a_resumed_run_says_so_under_its_label(tmp_path, capsys):
    run = tmp_path / "ebm_uncond"
    small_trainer(run, steps=6).train()
    assert small_trainer(run, steps=9, quiet=False).resume()
    err = capsys.readouterr().err
    assert f"ebm_uncond: resumed at step 6 from {run / 'checkpoint.pt'}" in err  # the folder names the model
    labelled = small_trainer(run, steps=9, quiet=False, label="concept shape")  # a label is no new setting
    assert labelled.resume() and "concept shape: resumed at step 6" in capsys.readouterr().err
    assert small_trainer(run, steps=9).resume() and capsys.readouterr().err == ""  # quiet: silent


def test_training_logs_scalars_to_metrics_jsonl_and_tensorboard(tmp_path, monkeypatch):
    import json

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    torch.manual_seed(0)
    data = (torch.randn(64, 2), None)
    sampler = LangevinSampler(steps=3, step_size=0.1, noise_std=0.01, grad_clip=None, clamp=None)
    cfg = TrainerConfig(steps=6, batch_size=16, log_every=2, checkpoint_every=6, quiet=True)
    Trainer(MLPEnergy(2, hidden=(8,)), sampler, data, cfg, out_dir=tmp_path / "tb").train()
    rows = [json.loads(line) for line in (tmp_path / "tb" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert all(r["grad_norm"] > 0 and r["lr"] == cfg.lr for r in rows)
    events = EventAccumulator(str(tmp_path / "tb" / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/e_pos", "train/e_neg", "train/grad_norm", "train/lr", "train/grad_abs"} <= tags
    assert [e.step for e in events.Scalars("train/loss")] == [2, 4, 6]
    assert [e.value for e in events.Scalars("train/loss")] == pytest.approx([r["loss"] for r in rows])
    # ebm-core alone (no tensorboard package): the same metrics.jsonl, no event files
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    Trainer(MLPEnergy(2, hidden=(8,)), sampler, data, cfg, out_dir=tmp_path / "plain").train()
    assert len((tmp_path / "plain" / "metrics.jsonl").read_text().splitlines()) == 3
    assert not (tmp_path / "plain" / "tensorboard").exists()


def test_logged_events_are_flushed_when_training_stops_on_an_error(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    calls = []

    def stop_at_step_5(step, trainer):
        calls.append(step)
        if step == 4:
            raise KeyboardInterrupt  # a Ctrl-C (or any error) in the middle of training

    torch.manual_seed(0)
    sampler = LangevinSampler(steps=2, step_size=0.1, noise_std=0.01, grad_clip=None, clamp=None)
    cfg = TrainerConfig(steps=10, batch_size=16, log_every=2, checkpoint_every=10, quiet=True)
    trainer = Trainer(MLPEnergy(2, hidden=(8,)), sampler, (torch.randn(64, 2), None), cfg, out_dir=tmp_path,
                      callback=stop_at_step_5, callback_every=1)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [e.step for e in events.Scalars("train/loss")] == [2, 4]  # on disk at once, not 10 s later


def test_the_class_term_adds_the_cross_entropy_over_the_classes_energies():
    """One step by hand: eq. 2 + L2 on the positives' own classes, plus class_coeff x the cross-entropy of
    softmax(-E(x+, c)) over the configured classes (labels 3 and 7 at positions 0 and 1)."""
    from ebm_core import class_energies

    torch.manual_seed(0)
    x = torch.randn(64, 2)
    y = torch.where(x[:, 0] > 0, 3, 7)
    energy = MLPEnergy(2, hidden=(16,), num_classes=8, spectral_norm=False)
    objective = ObjectiveConfig(l2_coeff=0.5, class_coeff=2.0, classes=(3, 7))
    cfg = TrainerConfig(steps=1, batch_size=64, replay_prob=0.0, quiet=True, objective=objective)
    trainer = Trainer(energy, dataclasses.replace(SAMPLER, steps=0), (x, y), cfg, init_fn=lambda xp, yp: 0 * xp)
    x_pos, y_pos = trainer.stream.peek(64)
    with torch.no_grad():
        e_pos, e_neg = energy(x_pos, y_pos), energy(torch.zeros_like(x_pos), y_pos)
        logits = -class_energies(energy, x_pos, torch.tensor([3, 7]))
        ce = nn.functional.cross_entropy(logits, (y_pos == 7).long())
    expected = e_pos.mean() - e_neg.mean() + 0.5 * ((e_pos**2).mean() + (e_neg**2).mean()) + 2.0 * ce
    diag = trainer.train_step()
    assert diag["loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert diag["class_loss"] == pytest.approx(ce.item(), rel=1e-5)
    assert diag["class_accuracy"] == pytest.approx(((logits.argmax(1) == 1) == (y_pos == 7)).float().mean().item())


def test_the_class_term_learns_to_classify_and_refuses_labels_it_cannot_use():
    from ebm_core import lowest_energy_class

    torch.manual_seed(0)
    x = torch.randn(512, 2)
    y = torch.where(x[:, 0] + x[:, 1] > 0, 3, 7)
    energy = MLPEnergy(2, hidden=(32, 32), num_classes=8, spectral_norm=False)
    objective = ObjectiveConfig(l2_coeff=0.1, class_coeff=1.0, classes=(3, 7))
    cfg = TrainerConfig(steps=150, batch_size=64, lr=3e-3, quiet=True, objective=objective, log_every=10)
    history = Trainer(energy, dataclasses.replace(SAMPLER, steps=5), (x, y), cfg).train()
    assert history[0]["class_loss"] > 0.5 and history[-1]["class_loss"] < 0.2, history
    xt = torch.randn(1000, 2)
    yt = torch.where(xt[:, 0] + xt[:, 1] > 0, 3, 7)
    assert (lowest_energy_class(energy, xt, torch.tensor([3, 7])) == yt).float().mean() > 0.9

    def trainer(labels, **objective):
        cfg = TrainerConfig(batch_size=8, quiet=True, objective=ObjectiveConfig(**objective))
        return Trainer(MLPEnergy(2, hidden=(4,), num_classes=8), SAMPLER, (x[:64], labels), cfg)

    with pytest.raises(ValueError, match="at least two classes"):
        trainer(y[:64], class_coeff=1.0)
    with pytest.raises(ValueError, match="repeats a class"):
        trainer(y[:64], class_coeff=1.0, classes=(3, 3))
    with pytest.raises(ValueError, match=r"labels \[7\] .* not among"):
        trainer(y[:64], class_coeff=1.0, classes=(3, 5))
    with pytest.raises(ValueError, match="needs class indices"):
        trainer(nn.functional.one_hot(y[:64], 8).float(), class_coeff=1.0, classes=(3, 7))
