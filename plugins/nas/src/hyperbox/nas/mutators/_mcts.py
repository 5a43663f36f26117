"""Monte-Carlo tree search over the decisions, with UCT selection (torch-free).

As Hypernets' ``MCTSSearcher``: a node of the tree is a prefix of decisions, taken in the space's
key order, and its children are the values of the next key. Each proposal walks down from the
root by UCT (Kocsis & Szepesvári, "Bandit based Monte-Carlo Planning", ECML 2006) to a node not
tried yet, expanding the first node without children on the way, and completes the architecture
by a random rollout; its result is then propagated back to every node whose prefix it shares.

Real-valued and large integer or subset domains would give a node endless children, so a node
branches into at most ``max_node_space`` values of such a domain, drawn when it is expanded (one
from each of that many equal slices of a range, so that they cover it). A categorical node
branches into every candidate, as Hypernets' ``Choice`` does.

The kernel asks and tells separately, and several proposals may be out at once: each one counts
in the nodes it passes through as a visit that scored the worst reward so far ("virtual loss",
Chaslot et al. 2008) until its result arrives, so that open proposals spread over the tree. A
node knows every architecture proposed under it (those observed with their scores, those still
open), and a node created later inherits them from its parent; hence a node that nobody tried
has nothing proposed under it, and a branch whose every architecture was proposed is *closed*
and never entered again.

A resumed search replays its history (:meth:`Mutator.restore`): where trials were out at once, the
replayed proposals differ from the architectures recorded, and no result will ever come for
them; the replay then forgets them, leaving the tree as the recorded results made it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from hyperbox.kernel.mutator import Mutator
from hyperbox.kernel.space import Categorical, Domain, FloatRange, IntRange, default_decision

__all__ = ["MCTSMutator"]


class _Node:
    """A prefix of decisions: ``arch`` holds the keys decided so far (inactive ones at their
    default) and ``position`` is the index of the next key to decide (the number of keys once
    the architecture is complete)."""

    __slots__ = ("arch", "position", "children", "results", "total", "pending", "closed")

    def __init__(self, arch: dict[str, Any], position: int) -> None:
        self.arch = arch
        self.position = position
        #: the next key's value -> child; None until the node is expanded
        self.children: dict[Any, _Node] | None = None
        #: ``(arch, score)`` of every architecture observed under this prefix, and their sum
        self.results: list[tuple[dict[str, Any], float]] = []
        self.total = 0.0
        #: architectures proposed under this prefix whose result has not come yet
        self.pending: list[dict[str, Any]] = []
        #: every architecture of this branch was proposed: selection skips it
        self.closed = False

    @property
    def tries(self) -> int:
        return len(self.results) + len(self.pending)


class MCTSMutator(Mutator):
    """Monte-Carlo tree search with UCT over the decisions, as Hypernets' ``MCTSSearcher``.

    The reward is the first objective (signed so that higher is better), rescaled to [0, 1] by
    the lowest and highest scores observed, so that ``exploration`` means the same for any
    metric. A child's UCT value is its mean reward plus
    ``exploration * sqrt(ln(parent tries) / child tries)``; a node with untried children
    expands one of them, chosen at random. A pruned or failed trial teaches nothing (its branch
    is neither rewarded nor punished). Once every branch of the tree is closed (a small space,
    fully explored), proposals are random architectures.

    Args:
        model: the model (or space) to search.
        seed: seeds :attr:`rng`, the only source of randomness.
        exploration: the UCT constant: 0 follows the best mean reward, larger values try less
            visited branches more. A node's mean reward also averages the random rest of its
            architectures, so means differ little: on the synthetic objectives of
            ``benchmarks/bench_searchers.py``, 0.15 to 0.3 found the best architectures and 0.7
            or more searched no better than random search.
        max_node_space: how many values a node branches into for an integer range or a subset
            with more values than this, and for a real range (10, as Hypernets).
    """

    def __init__(
        self, model: Any, *, seed: int | None = None, exploration: float = 0.2, max_node_space: int = 10
    ) -> None:
        super().__init__(model, seed=seed)
        number = isinstance(exploration, (int, float)) and not isinstance(exploration, bool)
        if not (number and 0 <= exploration < math.inf):
            raise ValueError(f"exploration must be a finite number >= 0, got {exploration!r}")
        if isinstance(max_node_space, bool) or not isinstance(max_node_space, int) or max_node_space < 1:
            raise ValueError(f"max_node_space must be an integer >= 1, got {max_node_space!r}")
        self.exploration = float(exploration)
        self.max_node_space = max_node_space
        self.keys = list(self.space)
        start: dict[str, Any] = {}
        self.root = _Node(start, self._next_active(start, 0))
        self._low = self._high = 0.0  # lowest and highest score observed
        self._best: tuple[float, dict] | None = None

    # -- ask -------------------------------------------------------------------------------

    def sample_search(self) -> dict[str, Any]:
        start = self._select()
        arch = self._rollout(start if start is not None else self.root)
        path = self._walk(arch)
        for node in path:
            node.pending.append(arch)
        self._close(path)
        return dict(arch)

    def _select(self) -> _Node | None:
        """Down from the root by UCT to an untried node; None when every branch is closed."""
        while not self.root.closed:
            node, path = self.root, [self.root]
            while node.position < len(self.keys):
                if node.children is None:
                    self._expand(node)
                branches = [child for child in node.children.values() if not child.closed]
                if not branches:  # rollouts proposed all of it before it was expanded
                    break
                untried = [child for child in branches if child.tries == 0]
                if untried:
                    return self.rng.choice(untried)
                parent = node
                node = max(branches, key=lambda child: self._uct(parent, child))
                path.append(node)
            else:
                return node  # a space without decisions to take
            self._close(path)
        return None

    def _uct(self, parent: _Node, child: _Node) -> float:
        """The mean reward of ``child`` plus its exploration bonus."""
        spread = self._high - self._low
        observed = len(child.results)
        rewards = (child.total - observed * self._low) / spread if spread else 0.5 * observed
        # open proposals count as tries that scored the worst reward (0)
        return rewards / child.tries + self.exploration * math.sqrt(math.log(parent.tries) / child.tries)

    def _expand(self, node: _Node) -> None:
        """Give ``node`` its children, each knowing the architectures proposed under it."""
        key = self.keys[node.position]
        node.children = {}
        for value in self._branches(self.space[key]):
            arch = {**node.arch, key: value}
            node.children[value] = _Node(arch, self._next_active(arch, node.position + 1))
        for arch, score in node.results:
            child = node.children.get(arch[key])
            if child is not None:
                child.results.append((arch, score))
                child.total += score
        for arch in node.pending:
            child = node.children.get(arch[key])
            if child is not None:
                child.pending.append(arch)
        for child in node.children.values():
            child.closed = child.position == len(self.keys) and child.tries > 0

    def _branches(self, domain: Domain) -> list[Any]:
        """The values a node of ``domain`` branches into (at most ``max_node_space``, except for
        a categorical): all of them when they are few enough, else one from each of that many
        equal slices of a range, or distinct random subsets."""
        limit = self.max_node_space
        if isinstance(domain, Categorical):
            return list(range(domain.n))
        if isinstance(domain, IntRange):
            count = (domain.high - domain.low) // domain.step + 1
            if count <= limit:
                return [domain.low + domain.step * i for i in range(count)]
            slices = [(count * i // limit, count * (i + 1) // limit) for i in range(limit)]
            return [domain.low + domain.step * self.rng.randrange(start, stop) for start, stop in slices]
        if isinstance(domain, FloatRange):
            if domain.low == domain.high:
                return [domain.low]
            to_unit = math.log if domain.log else float
            from_unit = math.exp if domain.log else float
            low, high = to_unit(domain.low), to_unit(domain.high)
            positions = [low + (high - low) * (i + self.rng.random()) / limit for i in range(limit)]
            return [min(max(from_unit(position), domain.low), domain.high) for position in positions]
        sizes = domain.sizes()
        if sum(math.comb(domain.n, size) for size in sizes) <= limit:
            return [chosen for size in sizes for chosen in itertools.combinations(range(domain.n), size)]
        values: set[tuple[int, ...]] = set()
        while len(values) < limit:
            values.add(domain.sample(self.rng))
        return sorted(values)

    def _rollout(self, node: _Node) -> dict[str, Any]:
        """``node``'s prefix completed with random decisions (inactive keys at their default)."""
        arch = dict(node.arch)
        position = node.position
        while position < len(self.keys):
            key = self.keys[position]
            arch[key] = self.space[key].sample(self.rng)
            position = self._next_active(arch, position + 1)
        return arch

    def _next_active(self, arch: dict[str, Any], position: int) -> int:
        """Set the inactive keys from ``position`` on to their default in ``arch`` (whose keys
        before ``position`` are decided); the index of the next active key."""
        if self.space.conditional:
            active = set(self.space.active(arch))  # exact up to the next active key: conditions look back
            while position < len(self.keys) and self.keys[position] not in active:
                arch[self.keys[position]] = default_decision(self.space[self.keys[position]])
                position += 1
        return position

    # -- tell ------------------------------------------------------------------------------

    def observe(self, arch: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
        arch = self._canonical(arch)
        score = self.score(metrics)
        if self._best is None:
            self._low = self._high = score
        self._low, self._high = min(self._low, score), max(self._high, score)
        if self._best is None or score > self._best[0]:
            self._best = (score, arch)
        path = self._walk(arch)
        for node in path:
            if arch in node.pending:
                node.pending.remove(arch)
            node.results.append((arch, score))
            node.total += score
        self._close(path)

    def discard(self, arch: Mapping[str, Any], state: str) -> None:
        """A pruned or failed trial is no longer open; it scores nothing."""
        arch = self._canonical(arch)
        for node in self._walk(arch):
            if arch in node.pending:
                node.pending.remove(arch)

    def restore(self, history: Sequence[tuple[Mapping[str, Any], Mapping[str, float], str]]) -> None:
        """Replay ``history`` (see :meth:`Mutator.restore`), then forget the replayed proposals
        that no recorded result answered: they leave the nodes they count a virtual loss in, and a
        leaf closed by one of them alone (never evaluated) is open again, with its ancestors."""
        super().restore(history)
        for arch in list(self.root.pending):  # nothing is out before the resumed search asks
            path = self._walk(arch)
            for node in path:
                node.pending.remove(arch)
            for node in reversed(path):
                if node.position == len(self.keys):
                    node.closed = node.tries > 0
                else:
                    node.closed = node.children is not None and all(c.closed for c in node.children.values())

    def _canonical(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """``arch`` in canonical decisions, its inactive keys at their default."""
        arch = self.space.validate(arch)
        active = set(self.space.active(arch))
        return {key: arch[key] if key in active else default_decision(self.space[key]) for key in self.keys}

    def _walk(self, arch: Mapping[str, Any]) -> list[_Node]:
        """The nodes whose prefix ``arch`` shares, from the root down."""
        node, path = self.root, [self.root]
        while node.children is not None and node.position < len(self.keys):
            child = node.children.get(arch[self.keys[node.position]])
            if child is None:
                break
            node = child
            path.append(node)
        return path

    def _close(self, path: list[_Node]) -> None:
        """Close the nodes of ``path`` (root first) whose whole branch is proposed, deepest first."""
        for node in reversed(path):
            if node.position == len(self.keys):
                node.closed = node.closed or node.tries > 0  # proposed once: closed for good
            elif node.children is not None and all(child.closed for child in node.children.values()):
                node.closed = True
            if not node.closed:
                return

    def sample_final(self) -> dict[str, Any]:
        """The best architecture observed; the current one before any."""
        return dict(self._best[1]) if self._best is not None else super().sample_final()
