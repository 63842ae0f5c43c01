import dataclasses
import math

import numpy as np
import pytest
import torch
from ebm_robotics import (
    DynamicsTrainingConfig,
    FCDynamics,
    TransitionEnergy,
    TransitionScaler,
    ZeroEnergy,
    ebm_step,
    frechet_per_step,
    no_change_step,
    one_step_mse,
    rollout_states,
    train_ebm,
)
from ebm_robotics.dataset import make_transitions


def test_frechet_per_step_known_gaussians():
    rng = np.random.default_rng(0)
    n, t, d = 20_000, 3, 2
    truth = rng.normal(size=(n, t + 1, d))
    pred = truth.copy()
    pred[:, 1] = rng.normal(size=(n, d)) + np.array([3.0, 0.0])  # mean shift: FD = 9
    pred[:, 2] = rng.normal(size=(n, d)) * 2.0  # scale 2: FD = d * (2 - 1)^2 = 2
    fd = frechet_per_step(pred, truth)
    assert len(fd) == t
    assert fd[0] == pytest.approx(9.0, abs=0.15)
    assert fd[1] == pytest.approx(2.0, abs=0.15)
    assert fd[2] == pytest.approx(0.0, abs=1e-9)
    pred[:, 3] = np.inf
    assert math.isinf(frechet_per_step(pred, truth)[2])


def test_scaler_roundtrip_and_units():
    rng = np.random.default_rng(0)
    traj = np.cumsum(rng.normal(scale=0.1, size=(50, 11, 31)), axis=1).astype(np.float32) + 5
    sc = TransitionScaler.fit(traj)
    s = torch.from_numpy(traj)
    d = sc.delta(s[:, :-1], s[:, 1:])
    assert d.reshape(-1, 31).std(0).sub(1).abs().max() < 1e-3
    assert torch.allclose(sc.step(s[:, :-1], d), s[:, 1:], atol=1e-5)
    assert sc.state(s).reshape(-1, 31).mean(0).abs().max() < 1e-3
    restored = TransitionScaler()
    restored.load_state_dict(sc.state_dict())
    assert torch.equal(restored.state(s), sc.state(s))
    with pytest.raises(ValueError, match="31"):
        sc.state(torch.zeros(3, 30))


def test_rollouts_stay_in_the_training_box_and_zero_energy_is_pure_noise():
    rng = np.random.default_rng(0)
    traj = rng.uniform(-1.0, 1.0, size=(40, 6, 31)).astype(np.float32)
    sc = TransitionScaler.fit(traj)
    assert torch.equal(sc.state_high, torch.from_numpy(traj.reshape(-1, 31).max(0)))
    s0 = torch.from_numpy(traj[:, 0])
    torch.manual_seed(0)
    wild = rollout_states(lambda y: 50.0 * torch.randn_like(y), sc, s0, 5)  # steps far outside the box
    assert (wild >= sc.state_low).all() and (wild <= sc.state_high).all()
    assert (wild[:, 1:] == sc.state_high).any() and (wild[:, 1:] == sc.state_low).any()  # it did clamp
    sampler = DynamicsTrainingConfig().rollout_sampler
    x = sampler(ZeroEnergy(31), torch.zeros(20_000, 31))
    expected = sampler.noise_std * math.sqrt(sampler.steps)  # no drift: only the per-step noise adds up
    assert x.mean().abs() < 0.01 and x.std().item() == pytest.approx(expected, rel=0.02)


def test_one_step_error_is_zero_for_the_true_step_and_the_mean_square_for_no_change():
    rng = np.random.default_rng(0)
    traj = np.cumsum(rng.normal(scale=0.1, size=(30, 8, 31)), axis=1).astype(np.float32)
    actions = torch.from_numpy(rng.normal(size=(30, 7, 20)).astype(np.float32))
    sc = TransitionScaler.fit(traj)
    s = torch.from_numpy(traj)
    true_steps = sc.delta(s[:, :-1], s[:, 1:]).reshape(-1, 31)
    seen = []

    def oracle(y):  # the conditions arrive in order: standardized s_t, then a_t
        seen.append(y)
        return true_steps

    assert one_step_mse(oracle, sc, s, actions) == pytest.approx(0.0, abs=1e-10)
    assert torch.allclose(seen[0][:, :31], sc.state(s[:, :-1]).reshape(-1, 31))
    assert torch.equal(seen[0][:, 31:], actions.reshape(-1, 20))
    assert one_step_mse(no_change_step, sc, s) == pytest.approx(float((true_steps**2).mean()), rel=1e-6)
    # the numpy arrays load_trajectories returns are accepted as they are
    assert one_step_mse(oracle, sc, traj, actions.numpy()) == pytest.approx(0.0, abs=1e-10)


def test_wrong_inputs_are_refused_with_their_reason():
    s = torch.randn(3, 31)
    with pytest.raises(ValueError, match=r"takes \[s_t, a_t\]: pass the actions, width 51; got width 31"):
        FCDynamics(conditional=True)(s)  # used to end in a matrix-shape error inside torch
    with pytest.raises(ValueError, match=r"takes s_t only \(no actions\), width 31; got width 51"):
        FCDynamics(conditional=False)(torch.randn(3, 51))
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DynamicsTrainingConfig(batch_size=0)  # used to train to a NaN loss, silently
    with pytest.raises(ValueError, match="replay_prob must be in"):
        DynamicsTrainingConfig(replay_prob=2.0)


def test_models_shapes_and_conditioning():
    e = TransitionEnergy(conditional=True)
    x, y = torch.randn(4, 31), torch.randn(4, 51)
    assert e(x, y).shape == (4,)
    with pytest.raises(ValueError):
        e(x, torch.randn(4, 31))
    assert FCDynamics(conditional=False)(torch.randn(4, 31)).shape == (4, 31)


def test_fresh_chain_training_learns_an_action_conditional_step_that_replay_training_misses():
    """The step is a linear function of the action. Trained on fresh chains with a small L2
    coefficient (the defaults), 10-step chains sample it; trained on a 95% replay buffer with L2
    coefficient 1 (the image settings), fresh chains barely leave their start (robotics README)."""
    rng = np.random.default_rng(0)
    n, t = 100, 20
    actions = rng.uniform(-1, 1, size=(n, t, 20)).astype(np.float32)
    steps = actions @ (rng.normal(size=(20, 31)).astype(np.float32) / np.sqrt(20))
    traj = np.concatenate([np.zeros((n, 1, 31), np.float32), np.cumsum(steps, axis=1)], axis=1)
    sc = TransitionScaler.fit(traj)
    tr = make_transitions(traj, actions)
    s, a = torch.from_numpy(traj[:20]), torch.from_numpy(actions[:20])
    no_change = one_step_mse(no_change_step, sc, s, a)
    errors = {}
    for name, changes in (("fresh", {}), ("replay", {"replay_prob": 0.95, "l2_coeff": 1.0})):
        torch.manual_seed(0)
        cfg = DynamicsTrainingConfig(steps=1000, batch_size=128, **changes)
        energy, _ = train_ebm(tr, sc, conditional=True, config=cfg, quiet=True)
        torch.manual_seed(1)
        errors[name] = one_step_mse(ebm_step(energy.eval(), cfg.rollout_sampler, cfg.rollout_init_std), sc, s, a)
    assert errors["fresh"] < 0.5 * no_change  # measured 0.39 vs 1.00
    assert errors["replay"] > 0.85 * no_change  # measured 0.96


@pytest.mark.xfail(
    strict=True,
    reason="known limitation, measured: with the default settings a transition energy trained for 300-3,000 "
    "steps on +-1 steps moves 10-step chains started near the saddle (0) by 0.32-0.43 on average, not to "
    "the modes; remove this mark once it learns multimodal steps",
)
def test_ebm_learns_a_bimodal_transition_that_fc_averages():
    """Each step moves dimension 0 by +1 or -1 (delta units) at random: a multimodal transition.
    The EBM's sampled steps must land near +-1; a mean-regressing FC would predict ~0."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n, t = 200, 10
    steps = np.zeros((n, t, 31), np.float32)
    steps[..., 0] = rng.choice([-1.0, 1.0], size=(n, t))
    steps[..., 1:] = rng.normal(scale=0.05, size=(n, t, 30))
    traj = np.concatenate([np.zeros((n, 1, 31), np.float32), np.cumsum(steps, axis=1)], axis=1)
    sc = TransitionScaler.fit(traj)
    tr = make_transitions(traj, np.zeros((n, t, 20), np.float32))
    cfg = DynamicsTrainingConfig(steps=300, batch_size=128, buffer_size=2000)
    energy, _ = train_ebm(tr, sc, conditional=False, config=cfg, quiet=True)
    s0 = torch.zeros(400, 31)
    out = rollout_states(ebm_step(energy, cfg.rollout_sampler, cfg.rollout_init_std), sc, s0, 1)
    moved = out[:, 1, 0] - out[:, 0, 0]
    assert moved.abs().mean() > 0.5  # it moves as the data do, not the average (0)
    assert (moved > 0.5).float().mean() > 0.25 and (moved < -0.5).float().mean() > 0.25  # both modes
    assert out[:, 1, 1:].abs().mean() < 0.25  # the other dimensions stay (data: std 0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_models_train_on_cuda_and_come_back_to_the_cpu(tmp_path):
    """`hand_rollout --device cuda`: both kinds of model train on the GPU (and resume there), and are
    returned on the CPU, where the rollouts run."""
    from ebm_robotics import train_fc

    rng = np.random.default_rng(0)
    traj = np.cumsum(rng.normal(scale=0.1, size=(40, 6, 31)), axis=1).astype(np.float32)
    sc = TransitionScaler.fit(traj)
    tr = make_transitions(traj, rng.uniform(-1, 1, size=(40, 5, 20)).astype(np.float32))
    cfg = DynamicsTrainingConfig(steps=6, batch_size=32, buffer_size=128, checkpoint_every=3, device="cuda")
    for train in (train_ebm, train_fc):
        model, history = train(tr, sc, True, cfg, out_dir=tmp_path / train.__name__, quiet=True)
        assert all(p.device.type == "cpu" for p in model.parameters()) and history
        longer = dataclasses.replace(cfg, steps=9)
        model, _ = train(tr, sc, True, longer, out_dir=tmp_path / train.__name__, resume=True, quiet=True)
        assert all(torch.isfinite(p).all() for p in model.parameters())


def test_fc_resume_continues_only_under_the_same_settings(tmp_path, capsys):
    from ebm_robotics import train_fc

    rng = np.random.default_rng(0)
    traj = np.cumsum(rng.normal(scale=0.1, size=(40, 6, 31)), axis=1).astype(np.float32)
    sc = TransitionScaler.fit(traj)
    tr = make_transitions(traj, rng.uniform(-1, 1, size=(40, 5, 20)).astype(np.float32))
    cfg = DynamicsTrainingConfig(steps=50, batch_size=32, checkpoint_every=25)
    straight, _ = train_fc(tr, sc, True, cfg, quiet=True)
    train_fc(tr, sc, True, dataclasses.replace(cfg, steps=25), out_dir=tmp_path, quiet=True)
    capsys.readouterr()
    resumed, history = train_fc(tr, sc, True, cfg, out_dir=tmp_path, resume=True)
    for a, b in zip(straight.parameters(), resumed.parameters()):
        assert torch.allclose(a, b)  # 25 + 25 steps = 50 straight steps
    assert f"{tmp_path.name}: resumed at step 25 from {tmp_path / 'checkpoint.pt'}" in capsys.readouterr().err
    with pytest.raises(ValueError, match="other settings"):
        train_fc(tr, sc, True, dataclasses.replace(cfg, fc_lr=1e-2), out_dir=tmp_path, resume=True, quiet=True)
