"""Fast stepping path vs gym path, state layout, policies and the random-action rule."""

import sys

import numpy as np
import pytest
from ebm_robotics.env import (
    CUBE_JOINT_NAME,
    HAND_JOINT_NAMES,
    STATE_DIM,
    HandCubeSim,
    cube_rotation_deg,
    state_qpos_indices,
)
from ebm_robotics.generate import rollout
from ebm_robotics.policy import (
    FingerGaitPolicy,
    RandomEveryKth,
    UniformRandomPolicy,
    load_policy,
)


@pytest.fixture(scope="module")
def sims():
    a, b = HandCubeSim(), HandCubeSim()
    yield a, b
    a.close()
    b.close()


def test_fast_path_matches_gym_path(sims):
    fast, gym_ = sims
    assert fast.n_substeps == 20
    np.testing.assert_array_equal(fast.reset(seed=11), gym_.reset(seed=11))
    rng = np.random.default_rng(0)
    for _ in range(50):
        action = rng.uniform(-1.3, 1.3, 20).astype(np.float32)  # also exercises the clipping
        s_fast, s_gym = fast.step(action), gym_.step_gym(action)
        np.testing.assert_allclose(s_fast, s_gym, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(fast.data.ctrl, gym_.data.ctrl)
    assert np.abs(s_fast[:24] - fast.reset(seed=11)[:24]).max() > 1e-2  # the hand did move


def test_state_is_read_by_name(sims):
    sim = sims[0]
    sim.reset(seed=3)
    state = sim.get_state()
    assert state.shape == (STATE_DIM,)
    for k, name in enumerate(HAND_JOINT_NAMES):
        assert state[k] == sim.data.joint(name).qpos[0]
    np.testing.assert_array_equal(state[24:], sim.data.joint(CUBE_JOINT_NAME).qpos)
    assert len(set(state_qpos_indices(sim.model).tolist())) == STATE_DIM


def test_set_state_roundtrip(sims):
    sim = sims[0]
    s = sim.reset(seed=4).copy()
    s[3] += 0.1
    s[24] += 0.01
    sim.set_state(s)
    np.testing.assert_array_equal(sim.get_state(), s)
    with pytest.raises(ValueError, match="shape"):
        sim.set_state(np.zeros(30))
    with pytest.raises(ValueError, match="shape"):
        sim.step(np.zeros(19))


def test_stored_float32_actions_replay_exactly(sims):
    sim = sims[0]
    policy = RandomEveryKth(FingerGaitPolicy())
    states, actions = rollout(sim, policy, 12, env_seed=5, rng=np.random.default_rng(1))
    assert actions.dtype == np.float32 and np.abs(actions).max() <= 1.0
    np.testing.assert_array_equal(sim.reset(seed=5), states[0])
    for t in range(12):
        np.testing.assert_array_equal(sim.step(actions[t]), states[t + 1])


def test_random_every_fourth_action():
    class Constant:
        def reset(self, rng):
            self.calls = 0

        def __call__(self, state):
            self.calls += 1
            return np.full(20, 0.5)

    inner = Constant()
    policy = RandomEveryKth(inner)
    policy.reset(np.random.default_rng(0))
    acts = np.array([policy(np.zeros(STATE_DIM)) for _ in range(12)])
    random_steps = [t for t in range(12) if not np.all(acts[t] == 0.5)]
    assert random_steps == [3, 7, 11]
    assert np.all(np.abs(acts) <= 1.0)
    assert inner.calls == 12  # the wrapped policy keeps its clock


def test_finger_gait_is_seeded_and_bounded():
    def actions(seed):
        p = FingerGaitPolicy()
        p.reset(np.random.default_rng(seed))
        return np.array([p(np.zeros(STATE_DIM)) for _ in range(30)])

    a, b, c = actions(0), actions(0), actions(1)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert np.all(np.abs(a) <= 1.0) and a.std(axis=0).min() > 0.01


def test_finger_gait_keeps_cube_and_rotates_it(sims):
    sim = sims[0]
    angles = []
    for i in range(3):
        states, _ = rollout(
            sim, RandomEveryKth(FingerGaitPolicy()), 100, env_seed=100 + i,
            rng=np.random.default_rng(i),
        )  # fmt: skip
        assert states[:, 26].min() > 0.1, "cube fell off the hand"
        angles.append(cube_rotation_deg(states[0, 27:], states[-1, 27:]))
    assert np.mean(angles) > 10.0, angles


def test_load_policy_specs(tmp_path, monkeypatch):
    assert isinstance(load_policy("finger_gait"), FingerGaitPolicy)
    assert isinstance(load_policy("random"), UniformRandomPolicy)
    (tmp_path / "my_policies.py").write_text(
        "import numpy as np\n"
        "def half(state):\n    return np.full(20, 2.0)\n"
        "def wrong(state):\n    return np.zeros(7)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    p = load_policy("my_policies:half")
    p.reset(np.random.default_rng(0))
    np.testing.assert_array_equal(p(np.zeros(STATE_DIM)), np.ones(20))  # clipped to [-1, 1]
    with pytest.raises(ValueError, match="20 finite values"):
        load_policy("my_policies:wrong")(np.zeros(STATE_DIM))
    with pytest.raises(ValueError, match="no attribute"):
        load_policy("my_policies:missing")
    with pytest.raises(ValueError, match="unknown policy spec"):
        load_policy("nonsense")
    with pytest.raises(FileNotFoundError):
        load_policy(str(tmp_path / "missing.pt"))
    sys.modules.pop("my_policies", None)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_load_torchscript_policy(tmp_path):
    torch = pytest.importorskip("torch")
    module = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(STATE_DIM, 20), torch.nn.Tanh()))
    path = tmp_path / "policy.pt"
    module.save(str(path))
    p = load_policy(str(path))
    p.reset(np.random.default_rng(0))
    state = np.linspace(-1.0, 1.0, STATE_DIM)
    expected = module(torch.as_tensor(state, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(p(state), expected, rtol=1e-6, atol=1e-6)  # the module's own output


def test_load_exported_program_policy(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(STATE_DIM, 20), torch.nn.Tanh())
    path = tmp_path / "policy.pt2"
    torch.export.save(torch.export.export(net, (torch.zeros(STATE_DIM),)), str(path))
    p = load_policy(str(path))
    a = p(np.ones(STATE_DIM))
    expected = net(torch.ones(STATE_DIM)).detach().numpy()
    np.testing.assert_allclose(a, expected, rtol=1e-6, atol=1e-6)
