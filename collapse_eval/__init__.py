"""Recursive self-training experiments: how many generations does filtering machine text buy?

    from collapse_eval import load_collapse_config, run_experiment
    report = run_experiment(load_collapse_config(preset="tiny"), Path("collapse-out"))

Layering: `collapse_eval` may import `detectors` and `hygiene`; neither imports it (the CLI edge does).
Names are loaded on first use, so importing `collapse_eval.config` does not import torch.
"""

from importlib import import_module

__all__ = ["CollapseConfig", "ConfigError", "RunError", "load_collapse_config", "run_experiment"]
_HOME = {"CollapseConfig": ".config", "ConfigError": ".config", "load_collapse_config": ".config",
         "RunError": ".runner", "run_experiment": ".runner"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(_HOME[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
