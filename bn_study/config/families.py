"""Network families described by their parameters, expanded at load into the explicit layer list
a config could have written by hand (`bn-study show` prints it).

    model:
      name: mlp
      input_shape: [28, 28, 1]
      family: {kind: mlp, depth: 20, width: 100, activation: sigmoid, normalizer: batch,
               position: before_activation}

Kinds:
- mlp: Flatten, then `depth` hidden Dense(width) layers, then Dense(classes, softmax).
- cnn: `depth` Conv2D(width, 3x3, 'same') layers, a MaxPooling2D(2) after the first (28x28 -> 14x14
  keeps a 20-layer net affordable on a CPU), GlobalAveragePooling2D, Dense(classes, softmax).
Each normalized hidden layer is layer(activation) -> N ("after_activation", the article's order) or
layer (without bias) -> N -> Activation ("before_activation", Ioffe & Szegedy's). Normalizers: none, batch
(Keras' BatchNormalization), fused (FusedBatchNorm), manual (ManualBatchNorm), group
(GroupNormalization, 8 groups), layer (GroupNormalization with 1 group: one image's statistics over
all its channels and positions, as Ba et al. define it; for a Dense layer the same as
LayerNormalization), noisy_batch (BatchNormalization followed by CovariateShiftNoise, Santurkar et
al.'s experiment); `normalizer_args` adds or overrides the normalizer layer's arguments.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("mlp", "cnn")  # the article's CNN lists its layers (configs/article_*.yaml)
POSITIONS = ("after_activation", "before_activation")
NORMALIZERS: dict[str, tuple[dict, ...]] = {
    "none": (),
    "batch": ({"class": "BatchNormalization"},),
    "fused": ({"class": "FusedBatchNorm"},),
    "manual": ({"class": "ManualBatchNorm"},),
    "group": ({"class": "GroupNormalization", "groups": 8},),
    "layer": ({"class": "GroupNormalization", "groups": 1},),
    "noisy_batch": ({"class": "BatchNormalization"}, {"class": "CovariateShiftNoise"}),
}


@dataclass(frozen=True)
class FamilyConfig:
    kind: str = field(metadata={"check": (lambda v: v in KINDS, f"one of {', '.join(KINDS)}")})
    depth: int = field(default=2, metadata={"check": (lambda v: v > 0, "a positive number of hidden layers")})
    width: int = field(default=100, metadata={"check": (lambda v: v > 0, "a positive number of units or filters")})
    activation: str = "relu"
    normalizer: str = field(default="none", metadata={"check": (lambda v: v in NORMALIZERS,
                                                                 f"one of {', '.join(NORMALIZERS)}")})
    position: str = field(default="after_activation", metadata={"check": (lambda v: v in POSITIONS,
                                                                          f"one of {', '.join(POSITIONS)}")})
    normalizer_args: dict[str, Any] = field(default_factory=dict)
    classes: int = field(default=10, metadata={"check": (lambda v: v > 1, "an integer > 1")})


def _normalizers(family: FamilyConfig) -> list[dict]:
    layers = [dict(spec) for spec in NORMALIZERS[family.normalizer]]
    if layers:
        layers[0].update(family.normalizer_args)
    return layers


def _hidden(layer: dict, family: FamilyConfig) -> list[dict]:
    """One hidden layer with its activation and normalizer in the family's order."""
    norm = _normalizers(family)
    if not norm:
        return [{**layer, "activation": family.activation}]
    if family.position == "after_activation":
        return [{**layer, "activation": family.activation}, *norm]
    # The normalizer's beta replaces the layer's bias (Ioffe & Szegedy 2015, section 3.2).
    return [{**layer, "use_bias": False}, *norm, {"class": "Activation", "activation": family.activation}]


def expand(family: FamilyConfig) -> list[dict]:
    """The family's explicit layer list, each layer {class: ..., args...} as a config writes it."""
    out = {"class": "Dense", "units": family.classes, "activation": "softmax"}
    if family.kind == "mlp":
        return [{"class": "Flatten"}, *[l for _ in range(family.depth)
                                         for l in _hidden({"class": "Dense", "units": family.width}, family)], out]
    layers = []  # cnn
    for i in range(family.depth):
        layers += _hidden({"class": "Conv2D", "filters": family.width, "kernel_size": [3, 3], "padding": "same"},
                          family)
        if i == 0:
            layers.append({"class": "MaxPooling2D", "pool_size": [2, 2]})
    return [*layers, {"class": "GlobalAveragePooling2D"}, out]
