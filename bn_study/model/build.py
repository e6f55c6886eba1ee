"""Keras objects from config specs: the model (layer by layer) and the optimizer."""
from __future__ import annotations

import difflib
import inspect
import re

import keras

from bn_study.config.schema import DEFAULT_PRECISION, ModelConfig, RunConfig
from bn_study.config.validate import ClassSpec, closest_name
from bn_study.errors import UserError
from bn_study.model.fused_bn import MIN_EPSILON, FusedBatchNorm
from bn_study.model.manual_bn import ManualBatchNorm
from bn_study.model.noise import CovariateShiftNoise

# Layers of bn_study's own that configs may name beside Keras' (class name -> class).
CUSTOM_LAYERS: dict[str, type] = {"ManualBatchNorm": ManualBatchNorm, "FusedBatchNorm": FusedBatchNorm,
                                   "CovariateShiftNoise": CovariateShiftNoise}


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def layer_class(name: str, where: str) -> type:
    """The Keras layer class called `name` (or a bn_study layer); UserError with a suggestion."""
    cls = CUSTOM_LAYERS.get(name) or getattr(keras.layers, name, None)
    if isinstance(cls, type) and issubclass(cls, keras.layers.Layer):
        return cls
    keras_names = [n for n in dir(keras.layers) if n[:1].isupper()]
    close = closest_name(name, keras_names, list(CUSTOM_LAYERS))
    hint = f" (did you mean '{close}'?)" if close else ""
    raise UserError(f"{where}: unknown layer class '{name}'{hint}")


def _argument_hint(cls: type, error: Exception) -> str:
    """'; did you mean momentum?' for each unknown keyword argument Keras names in `error`."""
    match = re.search(r"Unrecognized keyword arguments[^{]*\{(.*)\}", str(error))
    if not match:
        return ""
    unknown = re.findall(r"'([^']+)'\s*:", match.group(1))
    known = [p for klass in cls.__mro__ if klass is not object
             for p in inspect.signature(klass.__init__).parameters if p not in ("self", "args", "kwargs")]
    known += ["name", "dtype", "trainable", "autocast", "input_shape", "input_dim", "batch_size", "input_dtype"]
    hints = [f"'{u}' (did you mean '{close}'?)" for u in unknown
             if (close := next(iter(difflib.get_close_matches(u, known, n=1)), None))]
    return f"; {', '.join(hints)}" if hints else ""


def fused_kernel_applies(spec: ClassSpec) -> bool:
    """Whether FusedBatchNorm can compute this Keras BatchNormalization layer exactly: the
    TensorFlow backend, no renorm or synchronized BN, epsilon at or above the kernel's minimum."""
    args = spec.args
    return (spec.class_name == "BatchNormalization" and keras.backend.backend() == "tensorflow"
            and not args.get("renorm") and not args.get("synchronized")
            and float(args.get("epsilon", 1e-3)) >= MIN_EPSILON)


def build_layer(spec: ClassSpec, where: str, bn_kernel: str = "keras") -> keras.layers.Layer:
    """One layer from its config spec; UserError naming `where` for anything Keras refuses.

    With bn_kernel="fused" a BatchNormalization layer is computed by FusedBatchNorm (same
    arguments, weights and results within 1e-5: tests/test_layers.py) wherever that kernel
    applies: a speed setting, not another model."""
    fused = bn_kernel == "fused" and fused_kernel_applies(spec)
    cls = FusedBatchNorm if fused else layer_class(spec.class_name, where)
    backends = getattr(cls, "backends", None)  # set by layers bound to one backend's kernels
    if backends and keras.backend.backend() not in backends:
        raise UserError(f"{where}: {spec.class_name} needs the {' or '.join(backends)} backend of Keras, "
                        f"this is '{keras.backend.backend()}' (set KERAS_BACKEND=tensorflow or use BatchNormalization)")
    try:
        return cls(**spec.args)
    except Exception as e:  # Keras raises TypeError or ValueError for a bad argument
        raise UserError(f"{where}: Keras rejects the arguments: {_first_line(e)}{_argument_hint(cls, e)}") from None


def _with_precision(spec: ClassSpec, precision: str, is_output: bool) -> ClassSpec:
    """The layer's spec with its dtype policy: `precision` for every layer but the output one, which
    stays float32 (Keras' mixed-precision guide: a bfloat16 softmax loses the small probabilities the
    loss needs). A dtype the config gives a layer itself is kept."""
    if precision == DEFAULT_PRECISION or "dtype" in spec.args:
        return spec
    return ClassSpec(spec.class_name, {**spec.args, "dtype": DEFAULT_PRECISION if is_output else precision})


def build_model(config: ModelConfig, *, bn_kernel: str = "keras", precision: str = DEFAULT_PRECISION) -> keras.Model:
    """A pure function from a model config (the BN kernel, "keras" or "fused", and a Keras dtype
    policy name, train.precision) to an uncompiled keras.Sequential."""
    model = keras.Sequential(name=config.name)
    model.add(keras.Input(shape=config.input_shape))
    for i, spec in enumerate(config.layers):
        where = f"model.layers.{i} ({spec.class_name})"
        spec = _with_precision(spec, precision, is_output=i == len(config.layers) - 1)
        layer = build_layer(spec, where, bn_kernel)
        try:
            model.add(layer)
        except Exception as e:  # shape mismatches surface when the layer is connected
            raise UserError(f"{where}: cannot follow the previous layer: {_first_line(e)}") from None
    return model


def build_optimizer(spec: ClassSpec) -> keras.optimizers.Optimizer:
    try:
        return keras.optimizers.get({"class_name": spec.class_name, "config": dict(spec.args)})
    except Exception as e:
        raise UserError(f"optimizer ({spec.class_name}): Keras rejects it: {_first_line(e)}") from None


def check_buildable(config: RunConfig) -> None:
    """Build model, optimizer, loss and metrics once so every Keras-level mistake shows early."""
    build_model(config.model, precision=config.train.precision)
    build_optimizer(config.optimizer)
    if config.probe is not None:
        n_layers = len(config.model.layers)
        bad = [p for p in config.probe.layers if p >= n_layers]
        if bad:
            raise UserError(f"probe.layers: position {bad[0]} is past the model's {n_layers} layers (0..{n_layers - 1})")
    if config.landscape is not None and (config.train.steps_per_execution or 1) > 1:
        raise UserError("landscape: measures single steps; set train.steps_per_execution to 1 (or null)")
    try:
        keras.losses.get(config.train.loss)
    except Exception as e:
        raise UserError(f"train.loss: unknown loss '{config.train.loss}': {_first_line(e)}") from None
    for name in config.train.metrics:
        try:
            keras.metrics.get(name)
        except Exception as e:
            raise UserError(f"train.metrics: unknown metric '{name}': {_first_line(e)}") from None
