"""Two-mode transitions: does the hand models' recipe sample both modes, and what energy did it learn?

Trains the FC, the Gaussian MLP and the EBM (the hand recipe: the configs' defaults but
the step count) on transitions whose step is +1 or -1 (step-std units) with equal odds:

  joint   -- the whole 61-D state moves together (s -> s + 1 or s - 1), plus small noise;
  single  -- dimension 0 alone, the other 60 take small Gaussian steps.

Prints, per model, the share of one-step samples from s = 0 within 0.5 of each mode and between them,
and the EBM's energy along the modes' axis (the whitened step u along the all-ones direction, or u_0).

    uv run python benchmarks/two_mode_transition.py [--steps 1500]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from ebm_robotics import (
    STATE_DIM,
    DynamicsSamplers,
    DynamicsTrainingConfig,
    TransitionScaler,
    baseline_next_state,
    ebm_next_state,
    rollout_states,
    train_baseline,
    train_ebm,
)
from ebm_robotics.dataset import make_transitions, two_mode_trajectories


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1500)
    args = p.parse_args()
    for joint in (True, False):
        torch.manual_seed(0)
        traj = two_mode_trajectories(joint)
        sc = TransitionScaler.fit(traj)
        tr = make_transitions(traj, np.zeros((traj.shape[0], traj.shape[1] - 1, 20), np.float32))
        cfg, samplers = DynamicsTrainingConfig(steps=args.steps), DynamicsSamplers()
        fc, _ = train_baseline("fc", tr, sc, False, cfg, quiet=True)
        gaussian, _ = train_baseline("gaussian", tr, sc, False, cfg, quiet=True)
        energy, _ = train_ebm(tr, sc, False, cfg, quiet=True, base=gaussian)
        energy.eval()
        print(f"{'joint: s -> s + 1 or s - 1' if joint else 'single: dimension 0 alone'} ({args.steps} steps)")
        s0 = torch.zeros(2000, STATE_DIM)
        for name, ns in (("FC", baseline_next_state(fc, sc)), ("Gaussian MLP", baseline_next_state(gaussian, sc)),
                         ("EBM", ebm_next_state(energy, sc, samplers.rollout, samplers.rollout_init_std))):
            moved = rollout_states(ns, s0, 1)[:, 1]
            m = moved.mean(1) if joint else moved[:, 0]
            shares = [float(((m - c).abs() < 0.5).float().mean()) for c in (-1.0, 0.0, 1.0)]
            print(f"  {name:<13} near -1 {shares[0]:.2f}   between {shares[1]:.2f}   near +1 {shares[2]:.2f}")
        axis = torch.ones(STATE_DIM) / STATE_DIM**0.5 if joint else torch.eye(STATE_DIM)[0]
        reach = 1.0 * (STATE_DIM**0.5 if joint else 1.0)  # |u| of a mode (the base whitens each step to ~unit std)
        ts = torch.linspace(-1.5, 1.5, 13) * reach
        with torch.no_grad():
            y = sc.state(torch.zeros(len(ts), STATE_DIM))
            e = energy(ts[:, None] * axis, y)
        print("  EBM energy along the modes' axis (u = c * axis; c in units of a mode's distance):")
        print("   c: " + " ".join(f"{c:6.2f}" for c in (ts / reach).tolist()))
        print("   E: " + " ".join(f"{v:6.2f}" for v in (e - e.min()).tolist()))


if __name__ == "__main__":
    main()
