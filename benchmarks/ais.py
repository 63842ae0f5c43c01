"""AIS where the answer is known: bounds on log Z of 784-D energies with exact log Z (a Gaussian with
a random non-diagonal covariance, and an equal mixture of 4 such Gaussians far apart), both inside
[0, 1]^784 with negligible mass outside, as the number of temperatures grows, for three settings
side by side:

- ``reference``: the reference code's kind, a linear schedule and a fixed HMC step (0.01, 10 leapfrog
  steps), the likelihood app's default until it failed this check;
- ``adapted``: a geometric schedule from b = 1e-4 with the step size adapted toward 0.65 acceptance
  (5 leapfrog steps, one fixed step size for every chain);
- ``jittered``: the likelihood app's setting (``ebm_vision.jittered_ais``): the same schedule, the step
  adapted toward 0.8 acceptance and each chain's step drawn from [0.5, 1.5] times it at every move
  (``HMCSampler.step_jitter``).

Prints, per energy, setting and number of temperatures: the true log Z, the lower (forward AIS) and
upper (reverse AIS from the forward chains' end points) bounds, whether they bracket the truth, the
bracket's width (also as a share of |log Z|: the likelihood app trusts at most 20%), the HMC
acceptance rate over the temperatures (min / mean after the first tenth, where the step size is still
adapting), the energy evaluations per chain and the seconds.

    uv run python benchmarks/ais.py [--dim 784] [--temperatures 50 100 200 400] [--chains 64]
"""

from __future__ import annotations

import argparse
import time

import torch
from ebm_core import AISConfig, HMCSampler, ais_log_partition
from ebm_core.known_z import gaussian_in_box
from ebm_vision import jittered_ais


def settings(chains: int, k: int) -> dict[str, AISConfig]:
    """The three AIS settings compared, at ``chains`` chains and ``k`` temperatures."""
    return {
        "reference": AISConfig(num_chains=chains, num_temperatures=k,
                               hmc=HMCSampler(leapfrog_steps=10, step_size=0.01)),
        "adapted": AISConfig(num_chains=chains, num_temperatures=k, schedule="geometric", beta_min=1e-4,
                             target_accept=0.65, hmc=HMCSampler(leapfrog_steps=5, step_size=0.05)),
        "jittered": jittered_ais(num_chains=chains, num_temperatures=k),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=784)
    p.add_argument("--temperatures", type=int, nargs="+", default=[50, 100, 200, 400])
    p.add_argument("--chains", type=int, default=64)
    p.add_argument("--settings", nargs="+", default=["reference", "adapted", "jittered"])
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, D = {args.dim}, {args.chains} chains")
    print("| energy | setting | temperatures | true log Z | lower | upper | brackets | width (share) "
          "| accept min / mean | evaluations per chain | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, components in (("gaussian", 1), ("mixture of 4", 4)):
        energy = gaussian_in_box(args.dim, components=components, seed=components)
        for setting in args.settings:
            for k in args.temperatures:
                torch.manual_seed(0)
                cfg = settings(args.chains, k)[setting]
                t0 = time.perf_counter()
                r = ais_log_partition(energy, (args.dim,), cfg)
                seconds = time.perf_counter() - t0
                settled = r.accept_rates[k // 10:]
                ok = r.log_z_lower <= energy.log_z <= r.log_z_upper
                width = r.log_z_upper - r.log_z_lower
                evaluations = 2 * (k + cfg.final_transitions) * (cfg.hmc.leapfrog_steps + 1)
                share = width / abs(energy.log_z)
                print(f"| {name} | {setting} | {k:,} | {energy.log_z:.1f} | {r.log_z_lower:.1f} | "
                      f"{r.log_z_upper:.1f} | {'yes' if ok else 'NO'} | {width:.1f} ({share:.0%}) | "
                      f"{min(settled):.2f} / {sum(settled) / len(settled):.2f} | {evaluations:,} | {seconds:.0f} |",
                      flush=True)


if __name__ == "__main__":
    main()
