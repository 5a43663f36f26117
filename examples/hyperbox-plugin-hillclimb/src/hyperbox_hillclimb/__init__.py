"""A hill-climbing mutator for Hyperbox."""

from hyperbox_hillclimb.mutator import HillClimbMutator

__all__ = ["HillClimbMutator"]
