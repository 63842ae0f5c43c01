"""ebm-core."""
