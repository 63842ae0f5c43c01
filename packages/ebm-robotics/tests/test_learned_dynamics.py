"""Trained hand dynamics as artifacts: saved with their scaler and sampler, loaded with one call,
and stepped as a gymnasium environment with the real environment's spaces, reset and reward."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from ebm_robotics import (
    LEARNED_ENV_ID,
    DynamicsModelConfig,
    DynamicsSamplers,
    DynamicsTrainingConfig,
    HandCubeSim,
    LearnedDynamics,
    TransitionEnergy,
    TransitionScaler,
    train_baseline,
    train_ebm,
)
from ebm_robotics.dataset import make_transitions

D, A = 61, 20


@pytest.fixture(scope="module")
def hand_like_data():
    """Trajectories that start at the real environment's reset states and move by a fixed linear
    function of the action, as action-conditional dynamics must learn."""
    sim = HandCubeSim()
    starts = np.stack([sim.reset(seed=k) for k in range(40)])
    sim.close()
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(40, 8, A)).astype(np.float32)
    w = (rng.normal(size=(A, D)) * 0.01).astype(np.float32)
    traj = np.concatenate([starts[:, None], starts[:, None] + np.cumsum(actions @ w, axis=1)], axis=1)
    traj = traj.astype(np.float32)
    return TransitionScaler.fit(traj), make_transitions(traj, actions)


@pytest.fixture(scope="module")
def trained(hand_like_data):
    scaler, transitions = hand_like_data
    cfg = DynamicsTrainingConfig(steps=300, batch_size=64, baseline_lr=3e-3, checkpoint_every=300)
    torch.manual_seed(0)
    fc, _ = train_baseline("fc", transitions, scaler, True, cfg, quiet=True)
    gaussian, _ = train_baseline("gaussian", transitions, scaler, True, cfg, quiet=True)
    energy, _ = train_ebm(transitions, scaler, True, DynamicsTrainingConfig(steps=20, batch_size=64), quiet=True,
                          base=gaussian)
    samplers = DynamicsSamplers()
    return {
        "fc": LearnedDynamics.baseline("fc", fc, scaler),
        "gaussian": LearnedDynamics.baseline("gaussian", gaussian, scaler),
        "ebm": LearnedDynamics.ebm(energy, scaler, samplers.for_rollout(True), samplers.rollout_init_std),
    }


@pytest.mark.parametrize("family", ["fc", "gaussian", "ebm"])
def test_a_saved_model_loads_back_and_predicts_the_same_next_states(trained, hand_like_data, tmp_path, family):
    scaler, transitions = hand_like_data
    model = trained[family]
    path = model.save(tmp_path / f"{family}.pt")
    loaded = LearnedDynamics.load(path)
    assert loaded.spec == model.spec and loaded.conditional
    s = torch.from_numpy(transitions.states[:16])
    a = torch.from_numpy(transitions.actions[:16])
    torch.manual_seed(5)
    want = model.next_state(s, a)
    torch.manual_seed(5)
    assert torch.equal(loaded.next_state(s, a), want)  # weights, scaler and sampler all came back
    assert torch.equal(loaded.scaler.state_std, scaler.state_std)
    if family == "ebm":  # the rollout sampler comes back whole, its compile switch included
        assert loaded.spec.langevin() == model.spec.langevin()


def test_damaged_or_foreign_model_files_are_refused_naming_the_file(trained, tmp_path):
    path = trained["fc"].save(tmp_path / "fc.pt")
    saved = torch.load(path, weights_only=True)
    saved["state_dict"]["scaler.state_std"] = saved["state_dict"]["scaler.state_std"][:5]
    torch.save(saved, tmp_path / "cut.pt")
    with pytest.raises(ValueError, match=r"cut.pt cannot be used: its state_dict entry scaler.state_std has shape"):
        LearnedDynamics.load(tmp_path / "cut.pt")
    saved = torch.load(path, weights_only=True)
    saved["config"]["family"] = "transformer"
    torch.save(saved, tmp_path / "family.pt")
    with pytest.raises(ValueError, match="family.pt cannot be used: its config is refused.*family must be one of"):
        LearnedDynamics.load(tmp_path / "family.pt")
    torch.save({"format": "ebm-vision/image-energy/v1"}, tmp_path / "image.pt")
    with pytest.raises(ValueError, match="image.pt is not a model file of format 'ebm-robotics/hand-dynamics/v2'"):
        LearnedDynamics.load(tmp_path / "image.pt")
    saved = torch.load(path, weights_only=True)
    saved["config"]["model"]["hidden"] = [100_000] * 3  # would be built on the CPU before its weights are read
    torch.save(saved, tmp_path / "huge.pt")
    with pytest.raises(ValueError, match="huge.pt cannot be used: its config is refused.*at most 8 widths of at most"):
        LearnedDynamics.load(tmp_path / "huge.pt")


def test_a_model_of_other_widths_saves_and_loads_and_must_match_its_settings(hand_like_data, tmp_path):
    """The networks' settings (DynamicsModelConfig) are saved with the model and rebuild it on load; a
    network that is not the one its settings describe is refused when it is wrapped, not when loaded."""
    scaler, transitions = hand_like_data
    model = DynamicsModelConfig(energy="plain", hidden=(32, 16), act="relu", spectral_norm=False)
    torch.manual_seed(0)
    energy = TransitionEnergy(True, **model.mlp())
    saved = LearnedDynamics.ebm(energy, scaler, DynamicsSamplers().conditional_rollout, 0.5, model)
    loaded = LearnedDynamics.load(saved.save(tmp_path / "small.pt"))
    assert loaded.spec == saved.spec and loaded.spec.model == model
    assert [m.out_features for m in loaded.network.net if isinstance(m, torch.nn.Linear)] == [32, 16, 1]
    s, a = torch.from_numpy(transitions.states[:8]), torch.from_numpy(transitions.actions[:8])
    torch.manual_seed(5)
    want = saved.next_state(s, a)
    torch.manual_seed(5)
    assert torch.equal(loaded.next_state(s, a), want)
    with pytest.raises(ValueError, match="network is not the one its spec describes"):
        LearnedDynamics.ebm(energy, scaler, DynamicsSamplers().rollout, 1.0)  # the default widths: 3 x 128


def test_the_learned_environment_steps_with_the_model_under_the_real_spaces_and_reward(trained, tmp_path):
    path = trained["fc"].save(tmp_path / "fc.pt")
    env = gym.make(LEARNED_ENV_ID, model=str(path))
    real = gym.make("HandManipulateBlock-v1")
    assert env.observation_space == real.observation_space and env.action_space == real.action_space
    obs, info = env.reset(seed=3)
    real_obs, _ = real.reset(seed=3)
    assert env.observation_space.contains(obs)
    for key in obs:  # the real environment's reset state and goal for the same seed (the model's float32)
        assert np.allclose(obs[key], real_obs[key], rtol=1e-6, atol=1e-7), key
    s0 = info["state"]
    rng = np.random.default_rng(1)
    action = rng.uniform(-1, 1, A).astype(np.float32)
    obs1, reward, terminated, truncated, info1 = env.step(action)
    assert env.observation_space.contains(obs1) and not terminated and not truncated
    # the step is the model's prediction for this state and action, read in the env's observation order
    want = trained["fc"].next_state(torch.from_numpy(s0).float()[None], torch.from_numpy(action)[None])[0]
    assert np.allclose(info1["state"], want.double().numpy())
    assert np.allclose(obs1["achieved_goal"], want[24:31].double().numpy())  # cube position and quaternion
    assert np.array_equal(obs1["desired_goal"], obs["desired_goal"])  # the goal the real reset drew
    # the action steers it: the opposite action from the same reset moves the state the other way
    env.reset(seed=3)
    back = env.step(-action)[4]["state"]
    assert np.corrcoef(info1["state"] - s0, back - s0)[0, 1] < -0.5
    assert reward == float(env.unwrapped._real.compute_reward(obs1["achieved_goal"], obs1["desired_goal"], {}))
    assert reward in (-1.0, 0.0)  # the real environment's sparse reward
    for _ in range(99):  # the real environment's 100-step limit
        *_, truncated, _ = env.step(env.action_space.sample())
    assert truncated
    with pytest.raises(ValueError, match="action of shape"):
        env.step(np.zeros(3))
    env.close()
    real.close()


def test_the_learned_environment_is_reproducible_from_its_seed(trained, tmp_path):
    """The EBM samples every step; the env's seed fixes the reset and the sampling noise alike."""
    path = trained["ebm"].save(tmp_path / "ebm.pt")
    actions = np.random.default_rng(2).uniform(-1, 1, (4, A)).astype(np.float32)

    def run(seed):
        env = gym.make(LEARNED_ENV_ID, model=str(path))
        env.reset(seed=seed)
        torch.manual_seed(123)  # the global RNG neither feeds nor is consumed by the env
        states = [env.step(a)[4]["state"] for a in actions]
        after = torch.rand(1)
        env.close()
        return np.stack(states), after

    first, after = run(7)
    again, after_again = run(7)
    other, _ = run(8)
    assert np.array_equal(first, again) and not np.allclose(first, other)
    assert torch.equal(after, after_again) and torch.equal(after, (torch.manual_seed(123), torch.rand(1))[1])
