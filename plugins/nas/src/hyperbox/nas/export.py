"""A found model written so that it runs without Hyperbox: TorchScript, or ONNX."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import torch
from torch import nn

FORMATS = ("torchscript", "onnx")


def export_model(model: nn.Module, input_shape: Sequence[int], format: str, path: str | os.PathLike) -> str:
    """Write ``model`` (plain PyTorch, in eval mode on the CPU) to ``path``, traced on a batch of
    one sample of ``input_shape``: a TorchScript file (``torch.jit.load``) or an ONNX graph with a
    free batch size (onnxruntime). Returns the path."""
    if format not in FORMATS:
        raise ValueError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    model = model.eval().cpu()
    example = torch.zeros(1, *input_shape)
    path = os.fspath(path)
    with torch.no_grad():
        if format == "torchscript":
            torch.jit.trace(model, example).save(path)
        else:
            try:
                import onnx  # noqa: F401 - torch's exporter needs it
            except ImportError:
                raise ValueError(
                    "ONNX export needs the onnx package: pip install 'hyperbox-plugin-nas[onnx]'"
                ) from None
            with warnings.catch_warnings():  # the exporter's own deprecation notices are not the user's
                warnings.simplefilter("ignore")
                _export_onnx(model, example, path)
    return path


def _export_onnx(model: nn.Module, example: torch.Tensor, path: str) -> None:
    torch.onnx.export(
        model,
        (example,),
        path,
        input_names=["input"],
        output_names=["output"],
        dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        external_data=False,  # one file, weights inside
        verbose=False,
    )
