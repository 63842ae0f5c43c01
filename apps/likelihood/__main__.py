"""AIS likelihood bounds of image EBMs on continuous MNIST, PCD ablation, sensitivity (Du & Mordatch 2019, A.3-A.4).

Run ``uv run apps/likelihood --help`` (or the console script ``ebm-likelihood``); the app is
``ebm_apps.likelihood`` (packages/ebm-apps).
"""

from ebm_apps.likelihood import cli

if __name__ == "__main__":
    cli()
