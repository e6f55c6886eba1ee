"""Start TensorFlow the one way every bn_study process does: bn_study's speed defaults set first,
and without the lines TensorFlow prints to stderr on every start.

TensorFlow 2.21 logs at import time through absl before absl is initialised, so
TF_CPP_MIN_LOG_LEVEL does not reach these lines; each comes from a C++ library, not from Python:
- "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR" (absl,
  once per TensorFlow shared library that logs: twice),
- "I0000 ... port.cc] oneDNN custom operations are on ..." (whenever oneDNN is on, as it is by
  bn_study's default on x86; run.json records the state instead),
- "I0000 ... cpu_feature_guard.cc] This TensorFlow binary is optimized ..." and its second line.
Their cause is TensorFlow's start-up itself, so they are filtered: stderr's file descriptor points
at a temporary file during the import, and every other line is written back to stderr unchanged.
"""
from __future__ import annotations

import os
import platform
import re
import sys
import tempfile
from types import ModuleType

NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
                   r"|I0000 \S+ +\d+ (port\.cc|cpu_feature_guard\.cc):\d+\]"
                   r"|To enable the following instructions: .*rebuild TensorFlow)")


def apply_speed_defaults() -> None:
    """bn_study's defaults for what TensorFlow reads at start-up, unless the user set them.

    oneDNN on, on every x86 CPU: TensorFlow 2.21 turns it on only with AVX512_VNNI, AVX512_BF16,
    AVX_VNNI or AMX, yet it trains the article's BN model faster on an AMD EPYC with AVX2 only, and faster still on an
    AMX Xeon (results/bench_onednn_bn, docs/speed.md). Switch back with
    TF_ENABLE_ONEDNN_OPTS=0; run.json records which applied.
    """
    if platform.machine().lower() in ("x86_64", "amd64"):
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def import_tensorflow() -> ModuleType:
    """`import tensorflow`, once per process, with bn_study's speed defaults and without
    TensorFlow's start-up notices."""
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    apply_speed_defaults()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's own INFO and WARNING lines
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            kept = [line for line in captured.read().decode(errors="replace").splitlines(keepends=True)
                    if not NOISE.match(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    return tensorflow
