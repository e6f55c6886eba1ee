"""What decides a run's last digits, and how the run was made: recorded in every run.json.

Runs are bit-identical only for the same CPU kernels, thread count, numerics settings and versions.
TensorFlow 2.21 turns its oneDNN kernels on by default only on CPUs with AVX512_VNNI, AVX512_BF16,
AVX_VNNI or AMX: an AMD EPYC with AVX2 trains on Eigen kernels, an Intel Xeon with AMX on oneDNN,
so the same seed ends in other digits (and at another speed). `numerics_facts` says which path
ran and which variables steered it; `provenance` says which code ran and by which command.
"""
from __future__ import annotations

import hashlib
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

from bn_study.errors import UserError

ROOT = Path(__file__).resolve().parents[2]  # the checkout: bn_study/train/../..

# The vector instruction sets decide which kernels TensorFlow's oneDNN/Eigen pick, and so the last
# digits of a run: seed 0 of the article's no-BN model ended in other digits on an AMD EPYC with AVX2
# but no AVX-512 than on the machine that made the committed run (same versions). Named as /proc/cpuinfo does.
VECTOR_ISA = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
              "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve", "sve2")

# Environment variables that change which kernels run or in which order they sum, when set (the
# thread counts, TF_NUM_*_THREADS, are recorded as TensorFlow resolved them, in run.json's "threads").
NUMERICS_VARIABLES = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE",
                      "DNNL_MAX_CPU_ISA", "DNNL_DEFAULT_FPMATH_MODE", "OMP_NUM_THREADS", "TF_DETERMINISTIC_OPS", "TF_XLA_FLAGS",
                      "XLA_FLAGS", "TF_ENABLE_ONEDNN_SPMD", "TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "KERAS_BACKEND")
# Which kernel computes the configs' Keras BatchNormalization layers (bn_study.model.build): "fused"
# (TensorFlow's FusedBatchNormV3, faster than Keras' own ops on every CPU measured: results/bench_bn,
# docs/speed.md) or "keras" (Keras' own ops).
BN_KERNEL_VARIABLE = "BN_STUDY_BN_KERNEL"
BN_KERNELS = ("fused", "keras")
DEFAULT_BN_KERNEL = "fused"
COMMAND_VARIABLE = "BN_STUDY_COMMAND"  # the command as typed; set by the CLI, inherited by its workers


def cpu_caches() -> dict[str, str]:
    """Cache sizes of CPU 0 as Linux reports them, e.g. {'L1d': '32K', 'L2': '512K', 'L3': '32768K'}."""
    caches = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level, kind, size = ((index / name).read_text().strip() for name in ("level", "type", "size"))
        except OSError:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        caches[f"L{level}{suffix}"] = size
    return caches


def cpuinfo() -> dict[str, list[str]]:
    """Every /proc/cpuinfo field's values, one per CPU listed (empty off Linux)."""
    fields: dict[str, list[str]] = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), []).append(value.strip())
    except OSError:
        pass
    return fields


def cpu_facts() -> dict:
    """The CPU model, its vector ISA flags and cache sizes (Linux; 'unknown' and empty elsewhere)."""
    fields = cpuinfo()
    model = (fields.get("model name") or ["unknown"])[0]
    flags = set((fields.get("flags") or fields.get("Features") or [""])[0].split())  # x86, ARM
    return {"model": model, "isa": [name for name in VECTOR_ISA if name in flags], "caches": cpu_caches()}


def cpu_kind(facts: dict | None = None) -> str:
    """A folder name for this kind of CPU: its maker and line, then its widest vector ISA, e.g.
    'intel-xeon-avx512-amx', 'amd-epyc-avx2' (speed figures hold per kind, not per machine)."""
    facts = facts or cpu_facts()
    words = [w for w in re.sub(r"\(r\)|\(tm\)|@.*", " ", facts["model"].lower()).split()
             if w.isalpha() and w not in ("processor", "cpu", "unknown")]
    isa = set(facts["isa"])
    widest = ("avx512-amx" if "amx_tile" in isa else "avx512" if "avx512f" in isa else "avx2" if "avx2" in isa
              else "sve" if "sve" in isa else "asimd" if "asimd" in isa else "")
    return "-".join(words[:2] + ([widest] if widest else [])) or "unknown-cpu"


def onednn_enabled() -> bool:
    """Whether TensorFlow runs its oneDNN kernels in this process (its own decision, after the
    TF_ENABLE_ONEDNN_OPTS variable and the CPU's ISA)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def bn_kernel() -> str:
    """The BatchNormalization kernel this process trains with: $BN_STUDY_BN_KERNEL, else "fused"."""
    kernel = os.environ.get(BN_KERNEL_VARIABLE, DEFAULT_BN_KERNEL)
    if kernel not in BN_KERNELS:
        raise UserError(f"{BN_KERNEL_VARIABLE}={kernel!r}: expected one of {', '.join(BN_KERNELS)} "
                        f"(unset: {DEFAULT_BN_KERNEL})")
    return kernel


def numerics_facts() -> dict:
    """oneDNN on or off as TensorFlow applied it, the BN kernel, and every numerics-changing
    variable that is set."""
    return {"onednn": onednn_enabled(), "bn_kernel": bn_kernel(),
            "environment": {name: os.environ[name] for name in NUMERICS_VARIABLES if name in os.environ}}


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode(errors="replace") if done.returncode == 0 else None


def provenance() -> dict:
    """The project's git commit, whether its code differs from it (results/ aside: those are the
    runs' own output) with a hash of that diff, and the command as typed."""
    commit = _git("rev-parse", "HEAD")
    facts: dict = {"command": os.environ.get(COMMAND_VARIABLE) or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    if commit is None:  # not a git checkout (an installed copy, a Ray node without the repository)
        return {**facts, "commit": None}
    diff = _git("diff", "HEAD", "--", ".", ":(exclude)results") or ""
    untracked = _git("ls-files", "--others", "--exclude-standard", "--", "bn_study", "configs", "experiments") or ""
    facts.update(commit=commit.strip(), dirty=bool(diff or untracked))
    if facts["dirty"]:
        facts["diff_sha256"] = hashlib.sha256((diff + untracked).encode()).hexdigest()[:16]
    return facts


def device_description() -> str:
    """'CPU (2 cores, <model name>)' or 'GPU (1x <name>)': the device TensorFlow trains on."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU ({len(gpus)}x {details.get('device_name', gpus[0].name)})"
    cpu = (cpuinfo().get("model name") or [platform.processor() or platform.machine()])[0]
    return f"CPU ({os.cpu_count()} cores, {cpu})"
