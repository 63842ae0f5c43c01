"""What every sampler does around a chain: no parameter gradients, spectral norm computed once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
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


def materialized_weights(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every parametrized tensor of ``module`` (spectral-norm weights) as computed now, by full name.

    Inside :func:`chain_context` each is computed once (cached) and detached from the parameters;
    passed to ``torch.func.functional_call`` they replace the parametrizations, so a compiled
    step sees plain weight tensors.
    """
    weights = {}
    for prefix, sub in module.named_modules():
        if parametrize.is_parametrized(sub):
            for name in sub.parametrizations:
                weights[f"{prefix}.{name}" if prefix else name] = getattr(sub, name)
    return weights
