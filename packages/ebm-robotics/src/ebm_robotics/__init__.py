"""ebm-robotics."""
