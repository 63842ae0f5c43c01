"""The paper's generative-classifier baseline (section 6): a class-conditional VAE.

Encoder q(z | x, y) and decoder p(x | z, y) each have 2 hidden layers of 400 units; pixels are
Bernoulli. Each task trains the VAE on its own images and labels only (maximum likelihood of the
class-conditional model); prediction is the class of highest likelihood, ``argmax_y log p(x | y)``,
estimated by importance sampling with the encoder as proposal (uniform class prior).

Generative replay (not in the paper; ``generated_per_class`` > 0): after each task the VAE decodes
samples of that task's classes (z from the prior, the decoder's pixel means), and every later task
trains on them beside its own images: Shin et al. 2017's deep generative replay, the control for the
EBM's own generative replay (``ContinualEBMConfig.generated_per_class``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from ebm_core import SupervisedConfig, train_supervised
from ebm_core.checks import check_count
from ebm_core.seeding import child_seed, seed_everything
from torch import nn

from .data import Task


@dataclass(frozen=True)
class VAEConfig:
    hidden: tuple[int, ...] = (400, 400)
    latent_dim: int = 20
    epochs_per_task: int = 1
    batch_size: int = 128
    lr: float = 1e-3
    importance_samples: int = 16
    generated_per_class: int = 0
    num_classes: int = 10
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_count(self.generated_per_class, "VAEConfig.generated_per_class", 0)


def _mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for h in hidden:
        layers += [nn.Linear(in_dim, h), nn.ReLU()]
        in_dim = h
    return nn.Sequential(*layers, nn.Linear(in_dim, out_dim))


class ConditionalVAE(nn.Module):
    """q(z|x,y) = N(mu, sigma^2), p(z) = N(0, I), p(x|z,y) = Bernoulli(sigmoid(decoder))."""

    def __init__(self, in_dim: int = 784, config: VAEConfig = VAEConfig()):
        super().__init__()
        self.num_classes, self.latent_dim = config.num_classes, config.latent_dim
        self.encoder = _mlp(in_dim + config.num_classes, config.hidden, 2 * config.latent_dim)
        self.decoder = _mlp(config.latent_dim + config.num_classes, config.hidden, in_dim)

    def _onehot(self, y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(y.long(), self.num_classes).to(like.dtype)

    def log_weights(self, x: torch.Tensor, y: torch.Tensor, samples: int = 1) -> torch.Tensor:
        """``log p(x, z | y) - log q(z | x, y)`` for ``samples`` draws of z: shape (samples, B)."""
        oh = self._onehot(y, x)
        mu, log_var = self.encoder(torch.cat([x, oh], 1)).chunk(2, dim=1)
        std = (0.5 * log_var).exp()
        z = mu + std * torch.randn(samples, *mu.shape, device=x.device, dtype=x.dtype)
        logits = self.decoder(torch.cat([z, oh.expand(samples, -1, -1)], 2))
        log_px = -nn.functional.binary_cross_entropy_with_logits(
            logits, x.expand(samples, -1, -1), reduction="none"
        ).sum(2)
        log_pz = -0.5 * (z**2 + math.log(2 * math.pi)).sum(2)
        log_qz = -0.5 * (((z - mu) / std) ** 2 + log_var + math.log(2 * math.pi)).sum(2)
        return log_px + log_pz - log_qz

    def elbo(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.log_weights(x, y, 1)[0]

    @torch.no_grad()
    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor, samples: int = 16) -> torch.Tensor:
        """Importance-sampled estimate of ``log p(x | y)`` (a lower bound in expectation)."""
        return torch.logsumexp(self.log_weights(x, y, samples), 0) - math.log(samples)

    @torch.no_grad()
    def sample_means(self, y: torch.Tensor) -> torch.Tensor:
        """The decoder's pixel means ``sigmoid(decoder(z, y))`` for z drawn from the prior, one per label."""
        z = torch.randn(len(y), self.latent_dim, device=y.device)
        return torch.sigmoid(self.decoder(torch.cat([z, self._onehot(y, z)], 1)))


class VAEClassifier:
    """Learner: train the conditional VAE on each task; predict ``argmax_y log p(x | y)`` over all classes."""

    def __init__(self, config: VAEConfig = VAEConfig(), in_dim: int = 784, seed: int = 0, quiet: bool = True):
        self.config, self.seed, self.quiet = config, seed, quiet
        torch.manual_seed(seed)
        self.vae = ConditionalVAE(in_dim, config).to(config.device)
        self.optimizer = torch.optim.Adam(self.vae.parameters(), lr=config.lr)
        self.generated: list[tuple[torch.Tensor, torch.Tensor]] = []  # generative replay: samples, labels

    def learn_task(self, task: Task, task_index: int) -> None:
        c = self.config
        data = task.with_generated(self.generated)
        training = SupervisedConfig.for_epochs(c.epochs_per_task, len(data.y_train), c.batch_size, quiet=self.quiet,
                                               label=f"vae seed {self.seed} task {task_index}",
                                               seed=child_seed(self.seed, "task", task_index), device=c.device)
        train_supervised(self.vae, lambda m, x, y: -m.elbo(x, y).mean(), (data.x_train, data.y_train), training,
                         optimizer=self.optimizer)
        if c.generated_per_class:
            seed_everything(self.seed, "generated", task_index)
            self.vae.eval()
            for label in task.classes:
                y_gen = torch.full((c.generated_per_class,), label, dtype=torch.long, device=c.device)
                self.generated.append((self.vae.sample_means(y_gen).cpu(), y_gen.cpu()))

    @torch.no_grad()
    def class_log_likelihoods(self, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
        """``log p(x | c)`` for every class c: shape (N, num_classes)."""
        c = self.config
        self.vae.eval()
        rows = []
        for xb in x.split(batch_size):
            xb = xb.to(c.device)
            rows.append(torch.stack([
                self.vae.log_likelihood(xb, torch.full((len(xb),), k, device=c.device), c.importance_samples)
                for k in range(c.num_classes)
            ], 1).cpu())
        return torch.cat(rows)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.class_log_likelihoods(x).argmax(1)
