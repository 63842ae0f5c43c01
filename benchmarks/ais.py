"""AIS where the answer is known: bounds on log Z of 784-D energies with exact log Z (a Gaussian with
a random non-diagonal covariance, and an equal mixture of 4 such Gaussians far apart), both inside
[0, 1]^784 with negligible mass outside, as the number of temperatures grows.

Prints, per energy and number of temperatures: the true log Z, the lower (forward AIS) and upper
(reverse AIS from the forward chains' end points) bounds, whether they bracket the truth, the
bracket's width, and the HMC acceptance rate over the temperatures (min / mean after the first tenth,
where the step size is still adapting). The settings: ebm_core's geometric schedule from b = 1e-4,
the step size adapted toward 0.65 acceptance, 5 leapfrog steps, 32 chains.

    uv run python benchmarks/ais.py [--dim 784] [--temperatures 100 300 1000 3000] [--chains 32]
"""

from __future__ import annotations

import argparse
import time

import torch
from ebm_core import AISConfig, HMCSampler, ais_log_partition
from ebm_core.known_z import gaussian_in_box


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=784)
    p.add_argument("--temperatures", type=int, nargs="+", default=[100, 300, 1000, 3000])
    p.add_argument("--chains", type=int, default=32)
    p.add_argument("--beta-min", type=float, default=1e-4)
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, D = {args.dim}, {args.chains} chains")
    print("| energy | temperatures | true log Z | lower | upper | brackets | width | accept min / mean | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, components in (("gaussian", 1), ("mixture of 4", 4)):
        energy = gaussian_in_box(args.dim, components=components, seed=components)
        for k in args.temperatures:
            torch.manual_seed(0)
            cfg = AISConfig(num_chains=args.chains, num_temperatures=k, schedule="geometric",
                            beta_min=args.beta_min, target_accept=0.65,
                            hmc=HMCSampler(leapfrog_steps=5, step_size=0.05))
            t0 = time.perf_counter()
            r = ais_log_partition(energy, (args.dim,), cfg)
            seconds = time.perf_counter() - t0
            settled = r.accept_rates[k // 10:]
            ok = r.log_z_lower <= energy.log_z <= r.log_z_upper
            print(f"| {name} | {k:,} | {energy.log_z:.2f} | {r.log_z_lower:.2f} | {r.log_z_upper:.2f} | "
                  f"{'yes' if ok else 'NO'} | {r.log_z_upper - r.log_z_lower:.2f} | "
                  f"{min(settled):.2f} / {sum(settled) / len(settled):.2f} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
