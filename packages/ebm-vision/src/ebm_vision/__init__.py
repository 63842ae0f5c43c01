"""ebm-vision."""
