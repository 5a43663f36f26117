"""Hyperbox HPO: Optuna-driven search of any space, distributed studies, autoHyper."""
