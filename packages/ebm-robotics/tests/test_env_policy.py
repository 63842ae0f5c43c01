"""Fast stepping path vs gym path, the Markov state, exact branching, policies and the random-action rule."""

import sys

import numpy as np
import pytest
from ebm_robotics.env import (
    ACTUATOR_NAMES,
    CUBE_JOINT_NAME,
    HAND_JOINT_NAMES,
    STATE_DIM,
    HandCubeSim,
    cube_rotation_deg,
    state_indices,
)
from ebm_robotics.generate import BranchPlan, rollout
from ebm_robotics.policy import (
    GAIT_GROUPS,
    MarkovGaitPolicy,
    UniformRandomPolicy,
    WithRandomActions,
    load_policy,
)


def gait(sim, prob=0.25):
    return WithRandomActions(MarkovGaitPolicy(sim.actuators), prob)


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


def test_state_is_positions_then_velocities_read_by_name(sims):
    sim = sims[0]
    sim.reset(seed=3)
    sim.step(np.full(20, 0.7))  # moving: velocities are not zero
    state = sim.get_state()
    assert state.shape == (STATE_DIM,) == (61,)
    for k, name in enumerate(HAND_JOINT_NAMES):
        assert state[k] == sim.data.joint(name).qpos[0]
        assert state[31 + k] == sim.data.joint(name).qvel[0]
    np.testing.assert_array_equal(state[24:31], sim.data.joint(CUBE_JOINT_NAME).qpos)
    np.testing.assert_array_equal(state[55:61], sim.data.joint(CUBE_JOINT_NAME).qvel)
    assert np.abs(state[31:55]).max() > 0.1
    qpos, qvel = state_indices(sim.model)
    assert len(set(qpos.tolist())) == 31 and len(set(qvel.tolist())) == 30


def test_set_state_roundtrip(sims):
    sim = sims[0]
    s = sim.reset(seed=4).copy()
    s[3] += 0.1
    s[24] += 0.01
    s[40] = 0.5
    sim.set_state(s)
    np.testing.assert_array_equal(sim.get_state(), s)
    with pytest.raises(ValueError, match="shape"):
        sim.set_state(np.zeros(31))
    with pytest.raises(ValueError, match="shape"):
        sim.step(np.zeros(19))


def test_actuator_map_reads_joint_positions_in_action_units(sims):
    sim = sims[0]
    sim.reset(seed=2)
    for _ in range(15):  # hold every actuator at 40% of its range: the servos settle there
        state = sim.step(np.full(20, -0.4))
    pos = sim.actuators.position(state)
    free = [i for i, n in enumerate(ACTUATOR_NAMES) if "WR" not in n]
    assert np.median(np.abs(pos[free] + 0.4)) < 0.1, pos  # contacts with the cube hold a few back
    coupled = ACTUATOR_NAMES.index("robot0:A_FFJ1")
    j1, j0 = HAND_JOINT_NAMES.index("robot0:FFJ1"), HAND_JOINT_NAMES.index("robot0:FFJ0")
    a = sim.actuators
    assert pos[coupled] == pytest.approx((state[j1] + state[j0] - a.center[coupled]) / a.half_range[coupled])
    vel = a.velocity(state)
    assert vel[coupled] == pytest.approx((state[31 + j1] + state[31 + j0]) / a.half_range[coupled])


def test_restored_physics_replays_the_future_bit_for_bit_and_branches_differ(sims):
    """The branches' claim: from a saved simulator state, the same policy randomness gives the same
    future exactly (mj_getState / mj_setState hold everything mj_step reads), fresh randomness gives
    other futures from that very state, and the trajectory goes on as if no branch had been taken."""
    sim = sims[0]
    plain, plain_actions, _ = rollout(sim, gait(sim), 12, env_seed=9, rng=np.random.default_rng(1))
    plan = BranchPlan(5, 6, tuple(np.random.default_rng(k) for k in (10, 11, 12, 10)), gait(sim))
    branched, branched_actions, (fan, fan_actions) = rollout(
        sim, gait(sim), 12, env_seed=9, rng=np.random.default_rng(1), branch=plan)
    np.testing.assert_array_equal(branched, plain)  # the trajectory is unaffected by its branches
    np.testing.assert_array_equal(branched_actions, plain_actions)
    np.testing.assert_array_equal(fan[:, 0], np.broadcast_to(plain[5], (4, STATE_DIM)))
    np.testing.assert_array_equal(fan[3], fan[0])  # the same generator seed: the same future, bit for bit
    assert len({f.tobytes() for f in fan[:3, -1]}) == 3  # fresh randomness: other futures
    assert np.abs(fan[1:3, -1, :24] - fan[0, -1, :24]).max() > 0.05
    # a simulator set from the recorded positions and velocities alone (no warm start) follows
    # the same actions to within round-off: the 61-D state is the Markov state
    sim.reset(seed=0)
    sim.set_state(fan[0, 0].astype(np.float64))
    for t in range(6):
        state = sim.step(fan_actions[0, t])
    assert np.abs(state - fan[0, -1]).max() < 1e-3


def test_random_actions_with_probability():
    class Constant:
        def reset(self, rng):
            self.calls = 0

        def __call__(self, state):
            self.calls += 1
            return np.full(20, 0.5)

    inner = Constant()
    policy = WithRandomActions(inner, 0.25)
    policy.reset(np.random.default_rng(0))
    acts = np.array([policy(np.zeros(STATE_DIM)) for _ in range(4000)])
    random_steps = ~np.all(acts == 0.5, axis=1)
    assert random_steps.mean() == pytest.approx(0.25, abs=0.03)
    assert np.all(np.abs(acts) <= 1.0) and acts[random_steps].std() > 0.5
    assert inner.calls == 4000  # the wrapped policy is called at every step
    with pytest.raises(ValueError, match="probability"):
        WithRandomActions(inner, 1.5)


def test_markov_gait_depends_only_on_the_state_and_fresh_randomness(sims):
    """The same state and the same generator state give the same action (no hidden clock or
    per-trajectory variables); a moving group keeps its direction (switch 5%), a group at rest picks
    up or down with equal odds."""
    sim = sims[0]
    p = MarkovGaitPolicy(sim.actuators)
    state = sim.reset(seed=1).copy()
    state[31:55] = 0.0  # at rest
    p.reset(np.random.default_rng(3))
    first = p(state)
    for _ in range(5):
        p(state + 0.01)  # other calls in between change nothing but the generator
    p.reset(np.random.default_rng(3))
    np.testing.assert_array_equal(p(state), first)
    pos = sim.actuators.position(state)
    ups = []
    p.reset(np.random.default_rng(0))
    for _ in range(400):
        ups.append(p(state) > pos)
    ups = np.array(ups)[:, [g[0] for g in GAIT_GROUPS]]
    assert ups.mean() == pytest.approx(0.5, abs=0.05)  # at rest: both ways, equally often
    moving = state.copy()
    moving[31:55] = 5.0  # every joint moving up fast
    p.reset(np.random.default_rng(0))
    up = np.array([p(moving) >= np.minimum(pos + 0.49, 1.0) for _ in range(400)])
    assert up.mean() == pytest.approx(0.95, abs=0.03)


def test_stored_float32_actions_replay_exactly(sims):
    sim = sims[0]
    states, actions, fan = rollout(sim, gait(sim), 12, env_seed=5, rng=np.random.default_rng(1))
    assert fan is None and actions.dtype == np.float32 and np.abs(actions).max() <= 1.0
    np.testing.assert_array_equal(sim.reset(seed=5), states[0])
    for t in range(12):
        np.testing.assert_array_equal(sim.step(actions[t]), states[t + 1])


def test_markov_gait_keeps_the_cube_and_rotates_it(sims):
    sim = sims[0]
    angles = []
    for i in range(3):
        states, _, _ = rollout(sim, gait(sim), 100, env_seed=100 + i, rng=np.random.default_rng(i))
        assert states[:, 26].min() > 0.1, "cube fell off the hand"
        angles.append(cube_rotation_deg(states[0, 27:31], states[-1, 27:31]))
    assert np.mean(angles) > 10.0, angles


def test_load_policy_specs(sims, tmp_path, monkeypatch):
    actuators = sims[0].actuators
    assert isinstance(load_policy("markov_gait", actuators), MarkovGaitPolicy)
    assert isinstance(load_policy("random", actuators), UniformRandomPolicy)
    (tmp_path / "my_policies.py").write_text(
        "import numpy as np\n"
        "def half(state):\n    return np.full(20, 2.0)\n"
        "def wrong(state):\n    return np.zeros(7)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    p = load_policy("my_policies:half", actuators)
    p.reset(np.random.default_rng(0))
    np.testing.assert_array_equal(p(np.zeros(STATE_DIM)), np.ones(20))  # clipped to [-1, 1]
    with pytest.raises(ValueError, match="20 finite values"):
        load_policy("my_policies:wrong", actuators)(np.zeros(STATE_DIM))
    with pytest.raises(ValueError, match="no attribute"):
        load_policy("my_policies:missing", actuators)
    with pytest.raises(ValueError, match="unknown policy spec"):
        load_policy("nonsense", actuators)
    with pytest.raises(FileNotFoundError):
        load_policy(str(tmp_path / "missing.pt"), actuators)
    sys.modules.pop("my_policies", None)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_load_torchscript_policy(tmp_path):
    torch = pytest.importorskip("torch")
    module = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(STATE_DIM, 20), torch.nn.Tanh()))
    path = tmp_path / "policy.pt"
    module.save(str(path))
    p = load_policy(str(path), None)
    p.reset(np.random.default_rng(0))
    state = np.linspace(-1.0, 1.0, STATE_DIM)
    expected = module(torch.as_tensor(state, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(p(state), expected, rtol=1e-6, atol=1e-6)  # the module's own output


def test_load_exported_program_policy(tmp_path):
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(STATE_DIM, 20), torch.nn.Tanh())
    path = tmp_path / "policy.pt2"
    torch.export.save(torch.export.export(net, (torch.zeros(STATE_DIM),)), str(path))
    p = load_policy(str(path), None)
    a = p(np.ones(STATE_DIM))
    expected = net(torch.ones(STATE_DIM)).detach().numpy()
    np.testing.assert_allclose(a, expected, rtol=1e-6, atol=1e-6)


def test_joint_accessors_compare_joint_types_by_value_on_every_mujoco():
    """gymnasium-robotics' own accessors fail from mujoco 3.12 on (enum compares); ours give each
    joint exactly the qpos / qvel span MuJoCo's addresses give it, and write back what they read."""
    import mujoco
    from ebm_robotics.env import HandCubeSim, joint_span
    from gymnasium_robotics.utils import mujoco_utils

    sim = HandCubeSim()
    sim.reset(seed=0)
    model, data = sim.model, sim.data
    qpos_ends = list(model.jnt_qposadr[1:]) + [model.nq]
    dof_ends = list(model.jnt_dofadr[1:]) + [model.nv]
    for j in range(model.njnt):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, j)
        assert joint_span(model, name) == slice(int(model.jnt_qposadr[j]), int(qpos_ends[j]))
        assert joint_span(model, name, velocity=True) == slice(int(model.jnt_dofadr[j]), int(dof_ends[j]))
        value = mujoco_utils.get_joint_qpos(model, data, name)  # the library's name, our accessor
        mujoco_utils.set_joint_qpos(model, data, name, value + 0.01)
        assert np.allclose(mujoco_utils.get_joint_qpos(model, data, name), value + 0.01)
    assert joint_span(model, "object:joint").stop - joint_span(model, "object:joint").start == 7  # free joint
    with pytest.raises(ValueError, match="not part of the model"):
        joint_span(model, "robot0:nope")
    with pytest.raises(ValueError, match="takes 7 values, got 1"):  # no silent broadcast into a free joint
        mujoco_utils.set_joint_qpos(model, data, "object:joint", 0.0)
    sim.close()
