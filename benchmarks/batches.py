"""The cost of the one loader: ebm_core's BatchStream (a DataLoader over seeded epoch
permutations) against plain tensor indexing with the same index batches.

Prints microseconds per minibatch of both and their ratio, for ``(x, y)`` tensors (MNIST-sized
rows, batch 128) and for the hand dynamics' rows (62 + 20 floats, batch 128), interleaved
(plain, stream, plain, stream ...) after a warmup; the best of the repeats is reported (robust to
other load on the machine). A training step of the CPU presets takes milliseconds, so the
loader's share of it is the difference divided by that.

    uv run python benchmarks/batches.py [--batches N] [--repeats R]
"""

from __future__ import annotations

import argparse
import time

import torch
from ebm_core.batches import BatchStream, EpochBatches


def _per_batch(fn, batches: int) -> float:
    t = time.perf_counter()
    for _ in range(batches):
        fn()
    return (time.perf_counter() - t) / batches * 1e6


def compare(name: str, x: torch.Tensor, y: torch.Tensor, batch: int, batches: int, repeats: int) -> None:
    plain_idx = iter(EpochBatches(x.shape[0], batch, seed=0))
    stream = BatchStream((x, y), batch, seed=0)

    def plain() -> None:
        i = next(plain_idx)
        x[i], y[i]

    _per_batch(plain, 50)
    _per_batch(stream.next, 50)
    best_plain = best_stream = float("inf")
    for _ in range(repeats):
        best_plain = min(best_plain, _per_batch(plain, batches))
        best_stream = min(best_stream, _per_batch(stream.next, batches))
    print(f"{name:<28} plain indexing {best_plain:7.1f} us/batch   BatchStream {best_stream:7.1f} us/batch   "
          f"ratio {best_stream / best_plain:5.2f}   difference {best_stream - best_plain:6.1f} us")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.manual_seed(0)
    compare("MNIST rows (60000 x 784)", torch.rand(60_000, 784), torch.randint(0, 10, (60_000,)), 128,
            args.batches, args.repeats)
    compare("hand rows (180000 x 62+20)", torch.randn(180_000, 62), torch.randn(180_000, 20), 128,
            args.batches, args.repeats)


if __name__ == "__main__":
    main()
