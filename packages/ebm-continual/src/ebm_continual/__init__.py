"""ebm-continual."""
