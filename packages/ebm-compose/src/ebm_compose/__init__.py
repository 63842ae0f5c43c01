"""ebm-compose."""
