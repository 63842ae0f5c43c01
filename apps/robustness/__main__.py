"""Adversarial robustness of conditional image EBMs vs a cross-entropy classifier (Du & Mordatch 2019, 4.3).

Run ``uv run apps/robustness --help`` (or the console script ``ebm-robustness``); the app is
``ebm_apps.robustness`` (packages/ebm-apps).
"""

from ebm_apps.robustness import cli

if __name__ == "__main__":
    cli()
