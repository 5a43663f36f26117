"""Vega's ``Prune`` process: channel pruning of a ResNet of basic blocks by 0/1 masks.

The semantics are those of Vega's PruneEA (``vega/algorithms/compression/prune_ea/prune_codec.py``,
``prune_trainer_callback.py`` and ``vega/modules/operators/prune.py``, ``PruneResnet``; the
fine-grained space's ``process: {type: Prune, chn_node_mask, chn_mask, init_model_file}`` in
``vega/search_space/fine_grained_space/handler/prune.py``). In a mask 1 keeps a channel, 0 removes it:

- ``chn_node_mask`` masks the *nodes*, the tensors the residual additions run along: row 0 the
  stem's output channels, row ``s`` (1-based) those of stage ``s`` -- the second convolution of
  each of its blocks, its downsampling shortcut, the BatchNorms after them, and the input channels
  of whatever reads the node (the next blocks' first convolutions and shortcuts, the classifier's
  ``Linear``). A CIFAR ResNet-20 has 4 rows, of 16, 16, 32 and 64 entries.
- ``chn_mask`` masks the inside of each block: row ``b`` the output channels of block ``b``'s first
  convolution (and its BatchNorm), hence the input channels of its second one. ResNet-20: 9 rows
  of 16, 16, 16, 32, 32, 32, 64, 64, 64 entries.

So a block ``b`` of stage ``s`` maps ``node[s-1 or 0] -> chn[b] -> node[s]``; Vega's codec builds
exactly these 4 + 9 rows (464 entries for ResNet-20), and the planes of the network it describes are the
rows' sums (the seed's example: planes 16/15/29/60, inner planes 14, 16, 16, 29, 30, 30, 62, 60,
62). A row of zeros keeps its first channel (as Vega's ``prune_filter.py``).

Vega keeps the shapes and multiplies the removed channels' weights by 0; here the network is made
physically smaller, keeping the weights of the kept channels, so the ``params`` and ``flops``
estimators measure the pruned network as it is. The two compute the same function: where stage
1's first block adds its input unchanged and ``chn_node_mask[0]`` and ``chn_node_mask[1]`` differ,
that identity becomes a parameter-free channel selection (a channel stage 1 keeps and the stem
does not is zero, as in Vega's masked network; one the stem keeps and stage 1 does not is dropped).

Departures from Vega. Where the stem and stage 1 keep different numbers of channels, Vega's
physically pruned description (``ResNetGeneral`` with ``chn_node``, the seed's ``inchannel: [16,
15, ...]``) gives stage 1's first block a new 1x1 shortcut convolution, which its FLOPs and
parameter counts include although the network it trains (the masked one) has none; here the
shortcut stays parameter-free, as in the trained network. The seed-era handler
(``fine_grained_space/handler/prune.py``) walked ``chn_node_mask`` one row per block and gave the
shortcut convolutions rows of ``chn_mask`` (hence the seed's 12 rows); its example matrices, 5 x 12
and 12 x 12, fit no ResNet-20 layer and are refused here with the row count expected. The
row-per-block form of ``chn_node_mask`` that Vega expands internally is not accepted.

The network is found by its structure, not by names: its first ``Conv2d`` is the stem, every
other one belongs to a block (the outermost module holding two 3x3 convolutions and at most one
1x1 shortcut convolution), blocks run in module order and a block with a shortcut convolution
starts a stage; each ``BatchNorm2d`` belongs to the convolution just before it, and the first
``Linear`` is the classifier.
"""

from __future__ import annotations

import numbers
import os
import pickle
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["ChannelSelect", "Prune"]


class ChannelSelect(nn.Module):
    """An identity shortcut between two nodes that keep different channels: output channel ``j``
    is input channel ``source[j]``, or zeros where ``source[j]`` is None."""

    def __init__(self, source: Sequence[int | None], in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.pads = any(s is None for s in source)
        index = torch.tensor([in_channels if s is None else s for s in source], dtype=torch.long)
        self.register_buffer("index", index, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pads:
            x = torch.cat([x, x.new_zeros(x.shape[0], 1, *x.shape[2:])], dim=1)
        return x.index_select(1, self.index)

    def extra_repr(self) -> str:
        return f"{self.in_channels} -> {len(self.index)}"


class Prune:
    """Vega's ``Prune`` process: ``Prune(chn_mask, chn_node_mask, init_model_file).apply(network)``.

    ``network`` is the full (unpruned) ResNet; with ``init_model_file`` (a state_dict, loaded with
    ``torch.load(path, weights_only=True)``) its trained weights are loaded first -- keys may differ
    by a leading prefix (``module.``, ``0.``) -- and the pruned network keeps those of the kept
    channels. The masks are described in the module's documentation; :meth:`mask_lengths` gives
    the lengths a network expects. The network is changed in place and returned.
    """

    def __init__(
        self,
        chn_mask: Sequence[Sequence[int]],
        chn_node_mask: Sequence[Sequence[int]],
        init_model_file: str | os.PathLike | None = None,
    ) -> None:
        self.chn_mask = _rows(chn_mask, "chn_mask")
        self.chn_node_mask = _rows(chn_node_mask, "chn_node_mask")
        self.init_model_file = init_model_file

    @staticmethod
    def mask_lengths(network: nn.Module) -> dict[str, list[int]]:
        """The row lengths ``network`` expects: ``{"chn_node_mask": [...], "chn_mask": [...]}``."""
        layout = _Layout.of(network)
        return {"chn_node_mask": layout.node_widths(), "chn_mask": [b.conv1.out_channels for b in layout.blocks]}

    def apply(self, network: nn.Module) -> nn.Module:
        if self.init_model_file is not None:
            _load(network, self.init_model_file)
        layout = _Layout.of(network)
        node = _kept(self.chn_node_mask, "chn_node_mask", layout.node_widths(), layout.node_readers())
        inner = _kept(
            self.chn_mask,
            "chn_mask",
            [b.conv1.out_channels for b in layout.blocks],
            [f"the output channels of {b.conv1_name}" for b in layout.blocks],
        )
        nodes = [(node[layout.stage_of[i - 1] if i else 0], node[layout.stage_of[i]]) for i in range(len(inner))]
        selects = {  # identity shortcuts between nodes that keep different channels, found before any change
            index: _identity_slot(block)
            for index, (block, (before, after)) in enumerate(zip(layout.blocks, nodes))
            if block.shortcut is None and before != after
        }
        _cut(layout.stem, layout.norms.get(layout.stem_name), out=node[0])
        for index, (block, (before, after)) in enumerate(zip(layout.blocks, nodes)):
            _cut(block.conv1, layout.norms.get(block.conv1_name), inputs=before, out=inner[index])
            _cut(block.conv2, layout.norms.get(block.conv2_name), inputs=inner[index], out=after)
            if block.shortcut is not None:
                _cut(block.shortcut, layout.norms.get(block.shortcut_name), inputs=before, out=after)
            elif index in selects:
                where = {channel: position for position, channel in enumerate(before)}
                parent, child = selects[index]
                setattr(parent, child, ChannelSelect([where.get(c) for c in after], len(before)))
        if layout.head is not None:
            last = node[layout.stage_of[-1]]
            with torch.no_grad():
                weight = layout.head.weight
                layout.head.weight = nn.Parameter(weight[:, _index(last, weight)].clone(), weight.requires_grad)
            layout.head.in_features = len(last)
        return network


@dataclass
class _Block:
    name: str
    module: nn.Module
    conv1_name: str
    conv1: nn.Conv2d
    conv2_name: str
    conv2: nn.Conv2d
    shortcut_name: str | None
    shortcut: nn.Conv2d | None


@dataclass
class _Layout:
    stem_name: str
    stem: nn.Conv2d
    blocks: list[_Block]
    stage_of: list[int]  # block -> its stage, 1-based (the row of chn_node_mask)
    norms: dict[str, nn.BatchNorm2d]  # convolution name -> the BatchNorm after it
    head: nn.Linear | None

    def node_widths(self) -> list[int]:
        widths = [self.stem.out_channels]
        for block, stage in zip(self.blocks, self.stage_of):
            if stage == len(widths):
                widths.append(block.conv2.out_channels)
        return widths

    def node_readers(self) -> list[str]:
        names = [f"the output channels of {self.stem_name}"]
        for block, stage in zip(self.blocks, self.stage_of):
            if stage == len(names):
                names.append(f"the output channels of stage {stage} ({block.conv2_name}, ...)")
        return names

    @classmethod
    def of(cls, network: nn.Module) -> _Layout:
        modules = dict(network.named_modules())
        convs = [name for name, m in modules.items() if isinstance(m, nn.Conv2d)]
        if len(convs) < 3:
            raise ValueError(f"Prune: expected a ResNet (a stem and blocks of convolutions), found {len(convs)} Conv2d")
        stem_name, rest = convs[0], convs[1:]
        inside: dict[str, list[str]] = {}  # module name -> the convolutions inside it
        for conv in convs:
            parts = conv.split(".")
            for depth in range(len(parts)):
                inside.setdefault(".".join(parts[:depth]), []).append(conv)
        owner: dict[str, str] = {}
        for conv in rest:
            parts = conv.split(".")
            ancestors = [".".join(parts[:depth]) for depth in range(len(parts))]
            found = [a for a in ancestors if stem_name not in inside[a] and _block_convs(inside[a], modules)]
            if not found:
                raise ValueError(
                    f"Prune: convolution {conv!r} is in no residual block (two 3x3 convolutions and at most "
                    f"one 1x1 shortcut): Prune handles ResNets of basic blocks"
                )
            owner[conv] = found[0]
        blocks: list[_Block] = []
        for name in dict.fromkeys(owner[conv] for conv in rest):
            conv1, conv2, shortcut = _block_convs(inside[name], modules)
            short = None if shortcut is None else modules[shortcut]
            blocks.append(_Block(name, modules[name], conv1, modules[conv1], conv2, modules[conv2], shortcut, short))
        stem = modules[stem_name]
        stage_of, width = [], stem.out_channels
        for index, block in enumerate(blocks):
            stage_of.append(1 if index == 0 else stage_of[-1] + (block.shortcut is not None))
            _check_block(block, width)
            width = block.conv2.out_channels
        for name in convs:
            if modules[name].groups != 1:
                raise ValueError(f"Prune: {name} is a grouped convolution (groups={modules[name].groups})")
        norms, last, head = {}, None, None
        for name, module in modules.items():
            if isinstance(module, nn.Linear):
                head = module
                break  # the classifier: what follows it does not see the channels
            if isinstance(module, nn.Conv2d):
                last = name
            elif isinstance(module, nn.BatchNorm2d):
                if last is None or last in norms or module.num_features != modules[last].out_channels:
                    raise ValueError(f"Prune: BatchNorm2d {name!r} does not follow a convolution of its width")
                norms[last] = module
            elif next(module.parameters(False), None) is not None:
                raise ValueError(f"Prune: {name!r} ({type(module).__name__}) has parameters Prune cannot cut")
        if head is not None and head.in_features != width:
            raise ValueError(f"Prune: the classifier takes {head.in_features} features, not the last node's {width}")
        return cls(stem_name, stem, blocks, stage_of, norms, head)


def _block_convs(names: list[str], modules: Mapping[str, nn.Module]) -> tuple[str, str, str | None] | None:
    """(first, second, shortcut) convolution names when ``names`` are a basic block's, else None."""
    pointwise = [name for name in names if tuple(modules[name].kernel_size) == (1, 1)]
    body = [name for name in names if name not in pointwise]
    if len(body) != 2 or len(pointwise) > 1:
        return None
    return body[0], body[1], pointwise[0] if pointwise else None


def _check_block(block: _Block, width: int) -> None:
    if block.conv1.in_channels != width or block.conv2.in_channels != block.conv1.out_channels:
        raise ValueError(f"Prune: block {block.name!r} does not take the {width} channels of the node before it")
    if block.shortcut is None:
        if block.conv2.out_channels != width:
            raise ValueError(f"Prune: block {block.name!r} changes the width without a shortcut convolution")
    elif block.shortcut.in_channels != width or block.shortcut.out_channels != block.conv2.out_channels:
        raise ValueError(f"Prune: the shortcut {block.shortcut_name!r} does not match its block's widths")


def _rows(given: Any, key: str) -> list[list[int]]:
    if hasattr(given, "tolist"):
        given = given.tolist()
    if isinstance(given, (str, Mapping)) or not isinstance(given, Sequence):
        raise ValueError(f"{key}: expected a list of rows of 0 and 1, got {given!r}")
    rows = []
    for i, row in enumerate(given):
        if hasattr(row, "tolist"):
            row = row.tolist()
        if isinstance(row, (str, Mapping)) or not isinstance(row, Sequence):
            raise ValueError(f"{key}[{i}]: expected a row of 0 and 1, got {row!r}")
        for j, value in enumerate(row):
            if not isinstance(value, numbers.Integral) or value not in (0, 1):
                raise ValueError(f"{key}[{i}][{j}]: expected 0 or 1, got {value!r}")
        rows.append([int(value) for value in row])
    return rows


def _kept(rows: list[list[int]], key: str, lengths: list[int], what: list[str]) -> list[list[int]]:
    """The kept channel indices of each row, after checking the rows against ``lengths``."""
    if len(rows) != len(lengths):
        raise ValueError(f"{key}: expected {len(lengths)} rows of lengths {lengths}, got {len(rows)}")
    kept = []
    for i, (row, length) in enumerate(zip(rows, lengths)):
        if len(row) != length:
            raise ValueError(f"{key}[{i}]: expected {length} entries ({what[i]}), got {len(row)}")
        kept.append([c for c, value in enumerate(row) if value] or [0])  # none kept: the first (Vega)
    return kept


def _index(kept: list[int], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(kept, dtype=torch.long, device=like.device)


def _cut(conv: nn.Conv2d, norm: nn.BatchNorm2d | None, out: list[int], inputs: list[int] | None = None) -> None:
    """Keep the output channels ``out`` (and input channels ``inputs``) of ``conv`` and its BatchNorm."""
    with torch.no_grad():
        weight = conv.weight[_index(out, conv.weight)]
        if inputs is not None:
            weight = weight[:, _index(inputs, weight)]
            conv.in_channels = len(inputs)
        conv.weight = nn.Parameter(weight.clone(), conv.weight.requires_grad)
        if conv.bias is not None:
            conv.bias = nn.Parameter(conv.bias[_index(out, conv.bias)].clone(), conv.bias.requires_grad)
        conv.out_channels = len(out)
        if norm is None:
            return
        for name in ("weight", "bias"):
            value = getattr(norm, name)
            if value is not None:
                setattr(norm, name, nn.Parameter(value[_index(out, value)].clone(), value.requires_grad))
        for name in ("running_mean", "running_var"):
            value = getattr(norm, name)
            if value is not None:
                setattr(norm, name, value[_index(out, value)].clone())
        norm.num_features = len(out)


def _identity_slot(block: _Block) -> tuple[nn.Module, str]:
    """(parent, attribute) where ``block`` adds its input unchanged: its ``nn.Identity`` (or empty
    ``nn.Sequential``, or parameter-free ``*Identity``/``*ShortCut`` module), or its ``shortcut`` /
    ``downsample`` attribute left None (torchvision's ``identity = x if downsample is None ...``)."""
    found = []
    for name, module in block.module.named_modules():
        kind = type(module).__name__.lower()
        plain = next(module.parameters(), None) is None and not list(module.children())
        if name and (
            isinstance(module, nn.Identity)
            or (type(module) is nn.Sequential and len(module) == 0)
            or (plain and ("identity" in kind or "shortcut" in kind))
        ):
            found.append(name)
    for attr in ("shortcut", "downsample"):
        if (attr in vars(block.module) or attr in block.module._modules) and getattr(block.module, attr) is None:
            found.append(attr)
    if len(found) != 1:
        raise ValueError(
            f"Prune: block {block.name!r} adds its input unchanged and its nodes keep different channels, but "
            f"it has {'no' if not found else 'more than one'} identity module to replace (give it nn.Identity)"
        )
    parent_name, _, child = found[0].rpartition(".")
    return block.module.get_submodule(parent_name), child


def _load(network: nn.Module, path: str | os.PathLike) -> None:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise ValueError(f"init_model_file: {os.fspath(path)}: {error.strerror or error}") from None
    except pickle.UnpicklingError as error:  # not a checkpoint, or one that needs code to load
        raise ValueError(f"init_model_file: {os.fspath(path)}: not a weights-only checkpoint ({error})") from None
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"init_model_file: {os.fspath(path)} holds no state_dict (a mapping of names to tensors)")
    state = _align(dict(state), list(network.state_dict()))
    try:
        network.load_state_dict(state)
    except RuntimeError as error:
        detail = " ".join(str(error).split())
        raise ValueError(f"init_model_file: {os.fspath(path)} does not fit the network: {detail[:400]}") from None


def _align(state: dict[str, torch.Tensor], keys: list[str]) -> dict[str, torch.Tensor]:
    """``state`` with a leading prefix added or removed where that makes its keys the network's."""
    wanted = set(keys)
    if set(state) == wanted or not keys or not state:
        return state
    candidates = set()
    for key in state:
        for own in keys:
            if own.endswith("." + key):
                candidates.add(("add", own[: -len(key)]))
            elif key.endswith("." + own):
                candidates.add(("strip", key[: -len(own)]))
        break
    for how, prefix in sorted(candidates):
        if how == "add":
            renamed = {prefix + k: v for k, v in state.items()}
        elif all(k.startswith(prefix) for k in state):
            renamed = {k[len(prefix) :]: v for k, v in state.items()}
        else:
            continue
        if set(renamed) == wanted:
            return renamed
    return state
