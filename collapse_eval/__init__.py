"""Recursive self-training experiments: how many generations does filtering machine text buy?

    from collapse_eval import load_collapse_config, run_experiment
    report = run_experiment(load_collapse_config(preset="tiny"), Path("collapse-out"))

Layering: `collapse_eval` may import `detectors` and `hygiene`; neither imports it (the CLI edge does).
"""

from .config import CollapseConfig, ConfigError, load_collapse_config
from .runner import RunError, run_experiment

__all__ = ["CollapseConfig", "ConfigError", "RunError", "load_collapse_config", "run_experiment"]
