"""Class-incremental Split MNIST: the continual EBM beside fine-tuning, EWC, SI, LwF, a VAE and joint training

Run ``uv run apps/split_mnist --help`` (or the console script ``ebm-split-mnist``); the app is
``ebm_apps.split_mnist`` (packages/ebm-apps).
"""

from ebm_apps.split_mnist import cli

if __name__ == "__main__":
    cli()
