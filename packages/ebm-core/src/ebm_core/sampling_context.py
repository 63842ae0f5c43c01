"""What every sampler does around a chain: no parameter gradients, spectral norm computed once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import nn
from torch.nn.utils import parametrize


@contextmanager
def frozen_parameters(module: nn.Module) -> Iterator[None]:
    """Parameters stop requiring grad inside the block (so autograd builds no weight paths)."""
    frozen = [p for p in module.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


@contextmanager
def chain_context(energy: nn.Module, keep_parameter_graph: bool = False) -> Iterator[None]:
    """Context for one MCMC chain.

    Parametrized weights (spectral norm) are computed once and reused at every step; parameters
    are frozen unless ``keep_parameter_graph`` (the KL term of A.8 differentiates through the
    chain with respect to the parameters).
    """
    with parametrize.cached():
        if keep_parameter_graph:
            yield
        else:
            with frozen_parameters(energy):
                yield
