"""Adam with the reference code's element-wise gradient clip (A.11)."""

from __future__ import annotations

from collections.abc import Iterable

import torch


class ClippedAdam(torch.optim.Optimizer):
    """Adam(betas=(0, 0.999)) whose gradient is clipped element-wise before each update to
    ``|g| <= clip_std * sqrt(v_hat) + clip_floor``, with ``v_hat`` the bias-corrected second
    moment of the previous step (zero at the first step, so the first clip is at 0.1)."""

    def __init__(
        self, params: Iterable[torch.nn.Parameter], lr: float = 1e-4,
        betas: tuple[float, float] = (0.0, 0.999), eps: float = 1e-8,
        clip_std: float = 3.0, clip_floor: float = 0.1,
    ):
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        defaults = dict(lr=lr, betas=betas, eps=eps, clip_std=clip_std, clip_floor=clip_floor)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure=None):  # type: ignore[override]
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                m, v = state["exp_avg"], state["exp_avg_sq"]
                t = state["step"]
                v_hat_prev = v / (1 - beta2**t) if t > 0 else v
                bound = group["clip_std"] * v_hat_prev.sqrt() + group["clip_floor"]
                g = torch.maximum(torch.minimum(p.grad, bound), -bound)
                t += 1
                state["step"] = t
                m.mul_(beta1).add_(g, alpha=1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                m_hat = m / (1 - beta1**t)
                v_hat = v / (1 - beta2**t)
                p.addcdiv_(m_hat, v_hat.sqrt().add_(group["eps"]), value=-group["lr"])
        return loss
