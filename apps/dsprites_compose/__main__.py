"""dSprites concept EBMs composed by summed energies (Du & Mordatch 2019, section 7, Figures 15-16).

Run ``uv run apps/dsprites_compose --help`` (or the console script ``ebm-dsprites-compose``); the app is
``ebm_apps.dsprites_compose`` (packages/ebm-apps).
"""

from ebm_apps.dsprites_compose import cli

if __name__ == "__main__":
    cli()
