"""ENAS: an LSTM controller trained with REINFORCE (Pham et al., "Efficient Neural Architecture
Search via Parameter Sharing", ICML 2018).

The controller walks the keys of the space in order, one LSTM step per key, and emits a decision
from the step's hidden state:

- :class:`Categorical` -- a softmax over the candidates; the choice's embedding feeds the next step.
- :class:`Subset` -- one attention score per candidate (a learned embedding per candidate is its
  anchor, as ENAS attends over previous layers for skip connections). With ``k`` free, every
  candidate is an independent Bernoulli (sigmoid of its score), conditioned on choosing at least
  one; with ``k`` fixed, the set is drawn with probability proportional to
  ``exp(sum of the chosen scores)`` over all sets of size ``k`` (softmax when ``k == 1``). Both
  give the exact log-probability of a set from its multi-hot mask. The mean anchor of the chosen
  candidates feeds the next step.
- :class:`IntRange` / :class:`FloatRange` -- categorical over a grid: every step of an IntRange
  with at most ``range_bins`` values, else ``range_bins`` evenly spaced values (on a log scale for
  log FloatRanges), ends included. An observed value off the grid counts as its nearest grid value.

:meth:`ENASMutator.observe` recomputes the log-probability of the observed architecture (so a
replay of sample + observe reproduces the controller exactly) and takes one Adam step on
``-(reward - baseline) * log_prob + skip_weight * skip_penalty``, where the reward is the first
objective plus ``entropy_weight`` times the policy's entropy and the baseline is a moving average.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from hyperbox.kernel.mutator import Mutator
from hyperbox.kernel.space import Categorical, Domain, FloatRange, IntRange, Subset

__all__ = ["ENASController", "ENASMutator", "range_grid"]

LOG_ZERO = -1e9


def range_grid(domain: IntRange | FloatRange, bins: int) -> list:
    """The values an IntRange/FloatRange is searched over (see the module docstring)."""
    if isinstance(domain, IntRange):
        values = list(range(domain.low, domain.high + 1, domain.step))
        if len(values) <= bins:
            return values
        return [values[round(i * (len(values) - 1) / (bins - 1))] for i in range(bins)]
    if domain.high == domain.low:
        return [domain.low]
    if domain.log:
        low, high = math.log(domain.low), math.log(domain.high)
        values = [math.exp(low + (high - low) * i / (bins - 1)) for i in range(bins)]
    else:
        values = [domain.low + (domain.high - domain.low) * i / (bins - 1) for i in range(bins)]
    values[0], values[-1] = domain.low, domain.high  # exactly in range despite rounding
    return values


def _log_elementary_symmetric(logits: torch.Tensor, k: int) -> torch.Tensor:
    """``log e_j(exp(logits[i:]))`` for every suffix start ``i`` (rows, 0..n) and ``j`` (columns, 0..k)."""
    n = logits.shape[0]
    # a finite "log 0": with -inf, the backward pass of logaddexp(-inf, -inf) gives NaN
    log_zero = torch.full((), LOG_ZERO, dtype=logits.dtype)
    rows = [torch.cat([torch.zeros(1, dtype=logits.dtype), log_zero.expand(k)])]  # empty suffix
    for i in reversed(range(n)):
        after = rows[-1]
        take = torch.cat([log_zero.view(1), logits[i] + after[:-1]])
        rows.append(torch.logaddexp(after, take))
    return torch.stack(rows[::-1])


class ENASController(nn.Module):
    """The LSTM policy over a search space's keys (one step per key)."""

    def __init__(self, domains: list[Domain], lstm_size: int, lstm_num_layers: int, range_bins: int) -> None:
        super().__init__()
        self.domains = domains
        self.grids = [range_grid(d, range_bins) if isinstance(d, (IntRange, FloatRange)) else None for d in domains]
        self.lstm = nn.LSTM(lstm_size, lstm_size, lstm_num_layers)
        self.start = nn.Parameter(torch.zeros(1, lstm_size))
        self.heads = nn.ModuleList()
        self.embeddings = nn.ModuleList()
        for domain, grid in zip(domains, self.grids):
            width = domain.n if isinstance(domain, (Categorical, Subset)) else len(grid)
            # Subset: the head scores the attention; the embedding holds the candidates' anchors
            self.heads.append(nn.Linear(lstm_size, 1 if isinstance(domain, Subset) else width, bias=False))
            self.embeddings.append(nn.Embedding(width, lstm_size))
        self.attn_anchor = nn.Linear(lstm_size, lstm_size, bias=False)
        self.attn_query = nn.Linear(lstm_size, lstm_size, bias=False)

    def reset_parameters(self, generator: torch.Generator) -> None:
        # ENAS initialises every controller weight uniformly in [-0.1, 0.1]
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -0.1, 0.1, generator=generator)

    def scores(self, index: int, hidden: torch.Tensor) -> torch.Tensor:
        """Unsquashed logits of step ``index`` from the LSTM's top hidden state."""
        if isinstance(self.domains[index], Subset):
            anchors = self.attn_anchor(self.embeddings[index].weight)
            return self.heads[index](torch.tanh(anchors + self.attn_query(hidden))).view(-1)
        return self.heads[index](hidden).view(-1)


class ENASMutator(Mutator):
    """ENAS: an LSTM controller sampling every key in turn, trained by REINFORCE.

    Args:
        model: the model (or space) to search.
        seed: seeds :attr:`rng`, which seeds the controller's weights and its sampling generator.
        lstm_size, lstm_num_layers: the controller's LSTM.
        tanh_constant: logits become ``tanh_constant * tanh(logits)`` (None: unbounded).
        temperature: logits are divided by it first (None: 1).
        entropy_reduction: ``"sum"`` or ``"mean"`` over the steps for log-probability and entropy.
        entropy_weight: weight of the policy entropy added to the reward.
        skip_weight: weight of the KL penalty pulling free-size Subset probabilities to ``skip_target``.
        skip_target: the inclusion probability the penalty pulls towards.
        baseline_decay: decay of the reward's moving-average baseline (started at the first reward).
        lr: Adam learning rate of the controller.
        range_bins: grid size for IntRange/FloatRange keys.
    """

    def __init__(
        self,
        model: Any,
        *,
        seed: int | None = None,
        lstm_size: int = 64,
        lstm_num_layers: int = 1,
        tanh_constant: float | None = 1.5,
        temperature: float | None = None,
        entropy_reduction: str = "sum",
        entropy_weight: float = 1e-4,
        skip_weight: float = 0.8,
        skip_target: float = 0.4,
        baseline_decay: float = 0.999,
        lr: float = 3.5e-4,
        range_bins: int = 10,
    ) -> None:
        super().__init__(model, seed=seed)
        if entropy_reduction not in ("sum", "mean"):
            raise ValueError(f"entropy_reduction must be 'sum' or 'mean', got {entropy_reduction!r}")
        if range_bins < 2:
            raise ValueError("range_bins must be at least 2")
        capped = [key for key, domain in self.space.items() if isinstance(domain, Subset) and domain.most is not None]
        if capped:  # its controller draws each input on its own, which no cap on their number fits
            raise ValueError(f"ENASMutator: subsets of at most m inputs are not supported: {capped}")
        self.tanh_constant = tanh_constant
        self.temperature = temperature
        self.entropy_reduction = entropy_reduction
        self.entropy_weight = entropy_weight
        self.skip_weight = skip_weight
        self.skip_target = skip_target
        self.baseline_decay = baseline_decay
        self.baseline: float | None = None
        self.keys = list(self.space)
        if not self.keys:
            raise ValueError("ENASMutator: the model has no mutables to search")
        self.generator = torch.Generator().manual_seed(self.rng.getrandbits(63))
        self.controller = ENASController([self.space[k] for k in self.keys], lstm_size, lstm_num_layers, range_bins)
        self.controller.reset_parameters(self.generator)
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=lr)

    # -- the policy ------------------------------------------------------------------------

    def _squash(self, logits: torch.Tensor) -> torch.Tensor:
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _walk(
        self, arch: Mapping[str, Any] | None = None, greedy: bool = False
    ) -> tuple[dict, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Run the controller over every key: score the decisions of ``arch``, or without it
        sample them (or take the most likely ones when ``greedy``).

        Returns the decisions (canonical), log-probability, entropy and skip penalty.
        """
        controller = self.controller
        inputs, state = controller.start, None
        decisions: dict[str, Any] = {}
        log_probs, entropies, penalties = [], [], [torch.zeros(())]
        for index, key in enumerate(self.keys):
            output, state = controller.lstm(inputs, state)
            logits = self._squash(controller.scores(index, output))
            domain, grid = controller.domains[index], controller.grids[index]
            anchors = controller.embeddings[index].weight
            given = None if arch is None else arch[key]
            if isinstance(domain, Subset):
                if given is None and greedy:
                    given = _subset_mode(logits, domain.k)
                mask = None if given is None else torch.tensor([float(i in given) for i in range(domain.n)])
                if domain.k is None:
                    mask, log_prob, entropy = self._free_subset(logits, mask)
                    penalties.append(self._skip_penalty(logits))
                else:
                    mask, log_prob, entropy = self._fixed_subset(logits, domain.k, mask)
                decisions[key] = tuple(int(i) for i in mask.nonzero().view(-1))
                inputs = (mask @ anchors / mask.sum()).view(1, -1)
            else:
                choice = None if given is None else (given if grid is None else _nearest(grid, given, domain))
                log_softmax = torch.log_softmax(logits, -1)
                if choice is None and greedy:
                    choice = int(logits.argmax())
                elif choice is None:
                    choice = int(torch.multinomial(log_softmax.exp(), 1, generator=self.generator))
                log_prob = log_softmax[choice]
                entropy = -(log_softmax.exp() * log_softmax).sum()
                decisions[key] = choice if grid is None else grid[choice]
                inputs = anchors[choice].view(1, -1)
            log_probs.append(log_prob)
            entropies.append(entropy)
        reduce = torch.sum if self.entropy_reduction == "sum" else torch.mean
        return decisions, reduce(torch.stack(log_probs)), reduce(torch.stack(entropies)), sum(penalties)

    def _free_subset(self, logits: torch.Tensor, mask: torch.Tensor | None) -> tuple:
        """Independent Bernoulli inclusions conditioned on a non-empty set."""
        log_in, log_out = nn.functional.logsigmoid(logits), nn.functional.logsigmoid(-logits)
        log_empty = log_out.sum()
        log_nonempty = torch.log(-torch.expm1(log_empty))
        if mask is None:
            # the first chosen index j has weight p_j * prod_{i<j} (1 - p_i); the rest are free
            first_weights = (log_in + torch.cumsum(log_out, 0) - log_out).exp()
            first = int(torch.multinomial(first_weights, 1, generator=self.generator))
            rest = torch.rand(logits.shape, generator=self.generator) < log_in.exp()
            mask = (torch.arange(len(logits)) > first) & rest
            mask[first] = True
            mask = mask.float()
        log_prob = (mask * log_in + (1 - mask) * log_out).sum() - log_nonempty
        probs = log_in.exp()
        bernoulli_entropy = -(probs * log_in + (1 - probs) * log_out).sum()
        # the entropy of the conditioned distribution, from the unconditioned one
        entropy = (bernoulli_entropy + log_empty.exp() * log_empty) / log_nonempty.exp() + log_nonempty
        return mask, log_prob, entropy

    def _fixed_subset(self, logits: torch.Tensor, k: int, mask: torch.Tensor | None) -> tuple:
        """Sets of size ``k`` with probability proportional to ``exp(sum of chosen logits)``."""
        table = _log_elementary_symmetric(logits, k)
        log_norm = table[0, k]
        if mask is None:
            mask = torch.zeros(len(logits))
            uniforms = torch.rand(len(logits), generator=self.generator)
            remaining = k
            for i in range(len(logits)):  # include i with its probability given the sets still possible
                if remaining == 0:
                    break
                include = torch.exp(logits[i] + table[i + 1, remaining - 1] - table[i, remaining])
                forced = remaining == len(logits) - i  # guards against rounding just below 1
                if forced or uniforms[i] < include:
                    mask[i] = 1.0
                    remaining -= 1
        log_prob = (mask * logits).sum() - log_norm
        # entropy = log Z - sum_i P(i chosen) * logit_i, the marginals being d log Z / d logits
        with torch.enable_grad():
            detached = logits.detach().requires_grad_()
            (marginals,) = torch.autograd.grad(_log_elementary_symmetric(detached, k)[0, k], detached)
        entropy = log_norm - (marginals * logits).sum()
        return mask, log_prob, entropy

    def _skip_penalty(self, logits: torch.Tensor) -> torch.Tensor:
        """KL(inclusion probability || skip_target), summed over the candidates (as ENAS)."""
        probs = torch.sigmoid(logits).clamp(1e-6, 1 - 1e-6)
        target = self.skip_target
        return (probs * torch.log(probs / target) + (1 - probs) * torch.log((1 - probs) / (1 - target))).sum()

    # -- the mutator contract --------------------------------------------------------------

    def sample_search(self) -> dict[str, Any]:
        with torch.no_grad():
            return self._walk()[0]

    def log_prob(self, arch: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of ``arch`` under the controller (differentiable)."""
        _, log_prob, entropy, _ = self._walk(self.space.validate(arch))
        return log_prob, entropy

    def observe(self, arch: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        _, log_prob, entropy, skip_penalty = self._walk(self.space.validate(arch))
        reward = self.score(metrics) + self.entropy_weight * entropy.detach().item()
        if self.baseline is None:
            self.baseline = reward
        else:
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * reward
        loss = -(reward - self.baseline) * log_prob + self.skip_weight * skip_penalty
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def sample_final(self) -> dict[str, Any]:
        """The most likely architecture, decoded greedily; the current one before any observation."""
        if self.baseline is None:
            return super().sample_final()
        with torch.no_grad():
            return self._walk(greedy=True)[0]

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the search: controller, optimiser, baseline, generator."""
        return {
            "controller": self.controller.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "baseline": self.baseline,
            "generator": self.generator.get_state(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.controller.load_state_dict(state["controller"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.baseline = state["baseline"]
        self.generator.set_state(state["generator"])


def _nearest(grid: list, value: float, domain: Domain) -> int:
    """Index of the grid value closest to ``value`` (in log space for log FloatRanges)."""
    transform = math.log if isinstance(domain, FloatRange) and domain.log else float
    return min(range(len(grid)), key=lambda i: abs(transform(grid[i]) - transform(value)))


def _subset_mode(logits: torch.Tensor, k: int | None) -> list[int]:
    """The most likely set: the top ``k`` scores, or every positive one (at least the best)."""
    if k is not None:
        return logits.topk(k).indices.tolist()
    return (logits > 0).nonzero().view(-1).tolist() or [int(logits.argmax())]
