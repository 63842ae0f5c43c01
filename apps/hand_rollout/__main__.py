"""Shadow-hand cube dynamics: the EBM against three baselines (Du & Mordatch 2019, section 5, Figs. 12-13).

Run ``uv run apps/hand_rollout --help`` (or the console script ``ebm-hand-rollout``); the app is
``ebm_apps.hand_rollout`` (packages/ebm-apps).
"""

from ebm_apps.hand_rollout import cli

if __name__ == "__main__":
    cli()
