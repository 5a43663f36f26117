"""Hyperbox NAS: searchable spaces and ops, mutators, one-shot and differentiable trainers, estimators, datasets."""
