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

    Without ``create_graph`` the chain updates one state tensor in place. ``compile=True``
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
        if self.create_graph:
            out = self._run_with_graph(terms, x0.detach(), mask, low, high)
        else:
            out = self._run_in_place(terms, x0.detach(), mask, low, high)
        if self.check_finite:
            check_finite(out.x.detach(), f"Langevin samples ({self.steps} steps of {self.step_size})")
        return out

    def _step_functions(self, terms: Sequence[tuple[nn.Module, torch.Tensor | None]], x: torch.Tensor) -> list[Step]:
        """One gradient function per term: compiled where asked and available, else eager (x then
        becomes a leaf that requires grad, created once; autograd.grad frees each step's graph)."""
        if self.compile and self.steps:
            compiled = []
            for energy, y in terms:
                step = _compiled_step(energy, y, self.temperature)
                if step is None:
                    break
                compiled.append(step)
            else:
                return compiled
        x.requires_grad_(True)
        return [_eager_step(energy, y, self.temperature) for energy, y in terms]

    def _run_in_place(
        self, terms: Sequence[tuple[nn.Module, torch.Tensor | None]], anchor: torch.Tensor,
        mask: torch.Tensor | None, low: torch.Tensor | None, high: torch.Tensor | None,
    ) -> SampleOutput:
        """No graph through the chain: one state tensor, updated in place at every step."""
        energies, chain = [], [anchor.clone()] if self.record_every else []
        grad_abs = float("nan")
        x = anchor.clone()
        g_clip = torch.empty_like(x) if self.grad_clip is not None else None
        bounded = low is not None or high is not None
        with torch.enable_grad(), chain_context(_modules(terms)):
            steps = self._step_functions(terms, x)
            for k in range(self.steps):
                for j in range(len(terms)):
                    with torch.no_grad():
                        if self.noise_std > 0:
                            noise = torch.randn_like(x)
                            x.add_(noise if mask is None else noise * mask, alpha=self.noise_std)
                    try:
                        e, g = steps[j](x)
                    except _CompileFailed as failed:
                        x.requires_grad_(True)
                        steps = [_eager_step(energy, y, self.temperature) for energy, y in terms]
                        e, g = steps[j](x)  # raises if the energy itself is at fault
                        _compile_failed(str(failed))
                    check_energy_output(e, x)
                    with torch.no_grad():
                        if self.record_energies:
                            energies.append(e.detach().clone())
                        if k == self.steps - 1 and j == len(terms) - 1:
                            grad_abs = g.abs().mean().item()
                        if g_clip is not None:
                            g = torch.clamp(g, -self.grad_clip, self.grad_clip, out=g_clip)
                        x.sub_(g, alpha=self.step_size)
                        if self.clamp is not None:
                            x.clamp_(self.clamp[0], self.clamp[1])
                        if bounded:
                            x.clamp_(min=low, max=high)
                        if mask is not None:
                            x.copy_(torch.where(mask, x, anchor))
                if self.record_every and (k + 1) % self.record_every == 0:
                    chain.append(x.detach().clone())
        return SampleOutput(
            x=x.detach(),
            energies=torch.stack(energies) if energies else None,
            chain=torch.stack(chain) if chain else None,
            grad_abs_mean=grad_abs,
        )

    def _run_with_graph(
        self, terms: Sequence[tuple[nn.Module, torch.Tensor | None]], anchor: torch.Tensor,
        mask: torch.Tensor | None, low: torch.Tensor | None, high: torch.Tensor | None,
    ) -> SampleOutput:
        """``create_graph``: out-of-place updates, the graph kept through every step (never compiled)."""
        x = anchor.clone()
        energies, chain = [], [anchor.clone()] if self.record_every else []
        grad_abs = float("nan")
        scale: torch.Tensor | None = None
        bounded = low is not None or high is not None
        with torch.enable_grad(), chain_context(_modules(terms), keep_parameter_graph=True):
            for k in range(self.steps):
                for j, (energy, y) in enumerate(terms):
                    if self.noise_std > 0:
                        noise = self.noise_std * torch.randn_like(x)
                        x = x + (noise if mask is None else noise * mask)
                    if not x.requires_grad:
                        x.requires_grad_(True)
                    e = energy(x, y)
                    check_energy_output(e, x)
                    if scale is None:
                        scale = torch.full_like(e, 1.0 / self.temperature)  # d(sum E / T)/dx, no sum op
                    (g,) = torch.autograd.grad(e, x, grad_outputs=scale, create_graph=True)
                    if self.record_energies:
                        energies.append(e.detach())
                    if k == self.steps - 1 and j == len(terms) - 1:
                        grad_abs = g.detach().abs().mean().item()
                    if self.grad_clip is not None:
                        g = g.clamp(-self.grad_clip, self.grad_clip)
                    x = x - self.step_size * g
                    if self.clamp is not None:
                        x = x.clamp(self.clamp[0], self.clamp[1])
                    if bounded:
                        x = x.clamp(min=low, max=high)
                    if mask is not None:
                        x = torch.where(mask, x, anchor)
                if self.record_every and (k + 1) % self.record_every == 0:
                    chain.append(x.detach().clone())
        return SampleOutput(
            x=x,
            energies=torch.stack(energies) if energies else None,
            chain=torch.stack(chain) if chain else None,
            grad_abs_mean=grad_abs,
        )


def _modules(terms: Sequence[tuple[nn.Module, torch.Tensor | None]]) -> nn.Module:
    """The energy of a single term, or all of them as one module (for ``chain_context``)."""
    return terms[0][0] if len(terms) == 1 else nn.ModuleList(energy for energy, _ in terms)


Step = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def _eager_step(energy: nn.Module, y: torch.Tensor | None, temperature: float) -> Step:
    """E(x, y) and dE/dx / T: by the energy's own ``energy_and_input_grad(x, y)`` where it has
    one that answers (MLPEnergy: a hand-written backward pass), else by autograd (x is a leaf
    that requires grad)."""
    scale: list[torch.Tensor] = []
    analytic = getattr(energy, "energy_and_input_grad", None)

    def step(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if analytic is not None:
            with torch.no_grad():
                out = analytic(x, y)
            if out is not None:
                e, g = out
                return e, (g if temperature == 1.0 else g / temperature)
        e = energy(x, y)
        check_energy_output(e, x)
        if not scale:
            scale.append(torch.full_like(e, 1.0 / temperature))  # d(sum E / T)/dx, no sum op
        (g,) = torch.autograd.grad(e, x, grad_outputs=scale[0])
        return e, g

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
