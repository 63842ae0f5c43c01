"""Image EBMs: training, sampling, IS/FID, restoration and mode evaluation (Du & Mordatch 2019, 4.1-4.2).

Run ``uv run apps/image_generate --help`` (or the console script ``ebm-image-generate``); the app is
``ebm_apps.image_generate`` (packages/ebm-apps).
"""

from ebm_apps.image_generate import cli

if __name__ == "__main__":
    cli()
