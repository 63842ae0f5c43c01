"""Langevin dynamics sampler (paper eq. 1, with the reference code's step order)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from .checks import (
    check_bounds,
    check_box,
    check_condition,
    check_count,
    check_energy_output,
    check_finite,
    check_mask,
    check_nonnegative,
    check_positive,
    check_state,
)
from .sampler import SampleOutput
from .sampling_context import chain_context, materialized_weights


@dataclass(frozen=True)
class LangevinSampler:
    """x += N(0, noise_std^2); g = clip(dE/dx / T); x -= step_size * g; x = clamp(x, box).

    Defaults are the paper's CIFAR-10 settings (A.11): 60 steps, step size 10, noise 0.005,
    element-wise gradient clip 0.01, states in [0, 1]. ``clamp=None`` leaves states unbounded;
    ``grad_clip=None`` disables the clip. Per-element bounds ``low`` / ``high`` passed to ``run``
    (e.g. a box around each input) apply after the clamp. With a ``mask`` only entries where the
    mask is true move; the others stay bit-identical (inpainting). ``create_graph=True`` keeps the graph
    through the chain, with respect to the parameters too (the KL term, A.8). ``check_finite=True``
    (the evaluations' samplers) checks the final states once and raises ``NonFiniteError`` where a
    chain diverged, instead of returning NaN.

    Every chain runs :func:`langevin_step`; without ``create_graph`` the chain never requires grad.
    ``compile=True``
    (opt-in) runs each step's energy and input gradient through ``torch.compile``, with the
    spectral-norm weights materialized once per chain: the first chain of each shape pays the
    compile (tens of seconds on a CPU), later ones run faster. It gives the eager samples up to
    float rounding, assumes the energy is a pure function of ``(x, y)`` given its weights (no
    batch-norm statistics updates), is ignored with ``create_graph=True`` (double backward stays
    eager), and falls back to eager sampling with a warning where compile is unavailable.
    """

    steps: int = 60
    step_size: float = 10.0
    noise_std: float = 0.005
    grad_clip: float | None = 0.01
    clamp: tuple[float, float] | None = (0.0, 1.0)
    temperature: float = 1.0
    create_graph: bool = False
    record_every: int = 0
    record_energies: bool = False
    compile: bool = False
    check_finite: bool = False

    def __post_init__(self) -> None:
        check_count(self.steps, "LangevinSampler.steps", minimum=0)
        check_positive(self.step_size, "LangevinSampler.step_size")
        check_nonnegative(self.noise_std, "LangevinSampler.noise_std")
        if self.grad_clip is not None:
            check_positive(self.grad_clip, "LangevinSampler.grad_clip (None disables the clip)")
        check_box(self.clamp, "LangevinSampler.clamp")
        check_positive(self.temperature, "LangevinSampler.temperature")
        check_count(self.record_every, "LangevinSampler.record_every", minimum=0)

    def __call__(
        self, energy: nn.Module, x0: torch.Tensor, y: torch.Tensor | None = None,
        mask: torch.Tensor | None = None, low: torch.Tensor | None = None, high: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Final states of the chain started at ``x0`` (detached unless ``create_graph``)."""
        return self.run(energy, x0, y, mask, low, high).x

    def run(
        self, energy: nn.Module, x0: torch.Tensor, y: torch.Tensor | None = None,
        mask: torch.Tensor | None = None, low: torch.Tensor | None = None, high: torch.Tensor | None = None,
    ) -> SampleOutput:
        """Run the chain and return the final states with the recorded diagnostics.

        ``low`` / ``high`` are optional per-element bounds (tensors that broadcast to ``x0``, e.g. a
        box around each input): after the clamp of every step, ``x = min(max(x, low), high)``; masked
        entries still keep their ``x0`` values."""
        return self.run_in_turn([(energy, y)], x0, mask, low, high)

    def run_in_turn(
        self, terms: Sequence[tuple[nn.Module, torch.Tensor | None]], x0: torch.Tensor,
        mask: torch.Tensor | None = None, low: torch.Tensor | None = None, high: torch.Tensor | None = None,
    ) -> SampleOutput:
        """``steps`` rounds; in each round one Langevin step per ``(energy, y)`` term, in turn (a single
        term is the plain chain; several are :func:`ebm_core.sample_in_turn`)."""
        check_state(x0, "x0")
        for energy, y in terms:
            if not isinstance(energy, nn.Module):
                raise TypeError(f"energy must be an nn.Module mapping (x, y) to (B,), got {type(energy).__name__}")
            check_condition(y, x0)
        mask = check_mask(mask, x0)
        low, high = check_bounds(low, high, x0)
        out = self._chain(terms, x0.detach(), mask, low, high)
        if self.check_finite:
            check_finite(out.x.detach(), f"Langevin samples ({self.steps} steps of {self.step_size})")
        return out

    def _grad_functions(self, terms: Sequence[tuple[nn.Module, torch.Tensor | None]]) -> list[Step]:
        """One ``x -> (E, dE/dx / T)`` per term: the graph-keeping one with ``create_graph``; else the
        compiled one where asked and available (falling back to eager if its first call fails), else
        the eager one."""
        if self.create_graph:
            return [_graph_step(energy, y, self.temperature) for energy, y in terms]
        eager = [_eager_step(energy, y, self.temperature) for energy, y in terms]
        if not (self.compile and self.steps):
            return eager
        compiled = [_compiled_step(energy, y, self.temperature) for energy, y in terms]
        if any(step is None for step in compiled):
            return eager
        return [_with_fallback(c, e) for c, e in zip(compiled, eager)]

    def _chain(
        self, terms: Sequence[tuple[nn.Module, torch.Tensor | None]], anchor: torch.Tensor,
        mask: torch.Tensor | None, low: torch.Tensor | None, high: torch.Tensor | None,
    ) -> SampleOutput:
        """``steps`` rounds of :func:`langevin_step`, one per term in turn, with the records asked for.
        Without ``create_graph`` no step builds a graph through the chain (x never requires grad)."""
        x = anchor.clone()
        energies, chain = [], [anchor.clone()] if self.record_every else []
        grad_abs = float("nan")
        with torch.enable_grad(), chain_context(_modules(terms), keep_parameter_graph=self.create_graph):
            grads = self._grad_functions(terms)
            for k in range(self.steps):
                for grad in grads:
                    x, e, g = langevin_step(x, grad, self, mask, low, high, anchor)
                    if self.record_energies:
                        energies.append(e.detach())
                if self.record_every and (k + 1) % self.record_every == 0:
                    chain.append(x.detach())
            if self.steps:
                grad_abs = g.detach().abs().mean().item()  # the last step's, before clipping
        return SampleOutput(
            x=x if self.create_graph else x.detach(),
            energies=torch.stack(energies) if energies else None,
            chain=torch.stack(chain) if chain else None,
            grad_abs_mean=grad_abs,
        )


Step = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def langevin_step(
    x: torch.Tensor, grad: Step, s: LangevinSampler, mask: torch.Tensor | None,
    low: torch.Tensor | None, high: torch.Tensor | None, anchor: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Langevin step (eq. 1) in the reference code's order: add N(0, noise_std^2) noise; take
    ``(E, g) = grad(x)``, g = dE/dx / T at the noisy state; step by ``step_size`` times g clipped
    element-wise to ``grad_clip``; clamp to the box ``clamp``, then to the per-element bounds ``low``
    / ``high``; keep the ``anchor`` value wherever ``mask`` is false. Returns ``(x, E, g)`` with g
    before clipping. Out of place, so the same text serves the graph-keeping chain (KL term, A.8)."""
    if s.noise_std > 0:
        noise = s.noise_std * torch.randn_like(x)
        x = x + (noise if mask is None else noise * mask)
    e, g = grad(x)
    x = x - s.step_size * (g if s.grad_clip is None else g.clamp(-s.grad_clip, s.grad_clip))
    if s.clamp is not None:
        x = x.clamp(s.clamp[0], s.clamp[1])
    if low is not None or high is not None:
        x = x.clamp(min=low, max=high)
    if mask is not None:
        x = torch.where(mask, x, anchor)
    return x, e, g


def _modules(terms: Sequence[tuple[nn.Module, torch.Tensor | None]]) -> nn.Module:
    """The energy of a single term, or all of them as one module (for ``chain_context``)."""
    return terms[0][0] if len(terms) == 1 else nn.ModuleList(energy for energy, _ in terms)


def _eager_step(energy: nn.Module, y: torch.Tensor | None, temperature: float) -> Step:
    """E(x, y) and dE/dx / T, no graph kept: by the energy's own ``energy_and_input_grad(x, y)`` where
    it has one that answers (MLPEnergy: a hand-written backward pass), else by :func:`_graph_step`
    on a detached view of x (so the chain itself never requires grad)."""
    analytic = getattr(energy, "energy_and_input_grad", None)
    autograd = _graph_step(energy, y, temperature, keep_graph=False)

    def step(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if analytic is not None:
            with torch.no_grad():
                out = analytic(x, y)
            if out is not None:
                e, g = out
                return e, (g if temperature == 1.0 else g / temperature)
        return autograd(x)

    return step


def _graph_step(energy: nn.Module, y: torch.Tensor | None, temperature: float, keep_graph: bool = True) -> Step:
    """E(x, y) and dE/dx / T by autograd. ``keep_graph`` (``create_graph``): the graph is kept through
    the chain and to the parameters, for the KL term (never compiled); otherwise the gradient is taken
    on a detached view of x and nothing is kept."""
    scale: list[torch.Tensor] = []

    def step(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x if keep_graph else x.detach()
        if not x.requires_grad:
            x.requires_grad_(True)
        e = energy(x, y)
        check_energy_output(e, x)
        if not scale:
            scale.append(torch.full_like(e, 1.0 / temperature))  # d(sum E / T)/dx, no sum op
        (g,) = torch.autograd.grad(e, x, grad_outputs=scale[0], create_graph=keep_graph)
        return (e if keep_graph else e.detach()), g

    return step


def _with_fallback(compiled: Step, eager: Step) -> Step:
    """The compiled step, replaced for good by the eager one if compiling fails (with a warning)."""
    current = [compiled]

    def step(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        try:
            return current[0](x)
        except _CompileFailed as failed:
            current[0] = eager
            out = eager(x)  # raises if the energy itself is at fault
            _compile_failed(str(failed))
            return out

    return step


def _energy_and_input_grad(
    energy: nn.Module, x: torch.Tensor, y: torch.Tensor | None, inv_temperature: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The function that is compiled: (E(x, y), dE/dx / T), one graph for forward and gradient.

    Run inside ``chain_context`` with the parametrized weights already computed: the graph
    reads them from the parametrization cache as inputs (no power iteration, no recompile when
    they change from one chain to the next).
    """

    def total(x_: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        e = energy(x_, y)
        return e.sum() * inv_temperature, e

    g, e = torch.func.grad(total, has_aux=True)(x)
    return e, g


_compiled: Callable[..., tuple[torch.Tensor, torch.Tensor]] | None = None
_compile_error: str | None = None


def _compiled_step(energy: nn.Module, y: torch.Tensor | None, temperature: float) -> Step | None:
    """The compiled per-step function for this chain, or None (with a warning) where compile fails.

    Called inside ``chain_context``: the spectral-norm weights are materialized once here, into
    the parametrization cache, so the compiled graph holds no parametrization or power iteration.
    """
    global _compiled, _compile_error
    if _compile_error is None and not hasattr(torch, "compile"):
        _compile_error = "this torch has no torch.compile"
    if _compile_error is not None:
        warnings.warn(f"LangevinSampler(compile=True): {_compile_error}; sampling eagerly", stacklevel=6)
        return None
    if _compiled is None:
        _compiled = torch.compile(_energy_and_input_grad, dynamic=False)
    materialized_weights(energy)  # computed once, cached for the chain
    inv_t = 1.0 / temperature
    compiled = _compiled
    state = {"checked": False}

    def step(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if state["checked"]:
            return compiled(energy, x, y, inv_t)
        try:
            out = compiled(energy, x, y, inv_t)
        except Exception as err:  # no C compiler, unsupported platform or operator, ...
            raise _CompileFailed(f"{type(err).__name__}: {err}") from err
        state["checked"] = True
        return out

    return step


class _CompileFailed(RuntimeError):
    pass


def _compile_failed(reason: str) -> None:
    """Compile failed where eager sampling works: warn, and stop trying in this process."""
    global _compile_error
    _compile_error = reason
    warnings.warn(f"LangevinSampler(compile=True): torch.compile failed ({reason}); sampling eagerly",
                  stacklevel=3)
