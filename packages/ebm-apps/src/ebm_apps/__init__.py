"""The experiments as commands: each module is one app (argument parsing and calls into the
domain packages, nothing algorithmic) with ``main(argv) -> int`` and the console entry point
``cli()``; ``uv run apps/<name>`` runs the same module."""

APPS = ("celeba_compose", "dsprites_compose", "hand_rollout", "image_generate", "likelihood", "ood_eval",
        "robustness", "split_mnist")
