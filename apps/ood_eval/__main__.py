"""Out-of-distribution detection with image EBMs: AUROC of -E(x) per OOD set (Du & Mordatch 2019, 4.4).

Run ``uv run apps/ood_eval --help`` (or the console script ``ebm-ood-eval``); the app is
``ebm_apps.ood_eval`` (packages/ebm-apps).
"""

from ebm_apps.ood_eval import cli

if __name__ == "__main__":
    cli()
