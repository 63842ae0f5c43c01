"""CelebA attribute EBMs combined by summed energies (Du & Mordatch 2019, A.9, Figure 27).

Run ``uv run apps/celeba_compose --help`` (or the console script ``ebm-celeba-compose``); the app is
``ebm_apps.celeba_compose`` (packages/ebm-apps).
"""

from ebm_apps.celeba_compose import cli

if __name__ == "__main__":
    cli()
