"""What decides bit-identity, in words, from a run.json: device, CPU and its vector ISA, threads,
numerics and versions (the report's Setup and the comparison's Machines sections)."""
from __future__ import annotations


def numerics_line(numerics: dict) -> str:
    """'oneDNN on, BatchNormalization kernel fused, TF_ENABLE_ONEDNN_OPTS=1' from run.json's numerics."""
    settings = "".join(f", {k}={v}" for k, v in numerics.get("environment", {}).items())
    kernel = f", BatchNormalization kernel {numerics['bn_kernel']}" if "bn_kernel" in numerics else ""
    return f"oneDNN {'on' if numerics.get('onednn') else 'off'}{kernel}{settings}"


def machine_line(run: dict) -> str:
    """What decides bit-identity, from one run.json: device, CPU and its vector ISA, threads, versions."""
    cpu = run.get("cpu") or {}
    threads = run.get("threads") or {}
    parts = [run.get("device", "?")]
    if cpu:
        parts.append(f"{cpu.get('model')} with {' '.join(cpu.get('isa', [])) or 'no listed vector ISA'}")
    parts.append(f"TensorFlow threads intra-op {threads.get('intra_op', 'default')}, inter-op {threads.get('inter_op', 'default')}"
                 if threads else "TensorFlow threads: default (not recorded)")
    numerics = run.get("numerics")
    if numerics:  # recorded since 2026-12-01; older runs say nothing rather than guess
        parts.append(numerics_line(numerics))
    if "precision" in run:  # recorded since 2026-12-07; earlier runs computed in float32
        parts.append(f"precision {run['precision']}")
    parts.append(", ".join(f"{name} {run[key]}" for name, key in (("Python", "python"), ("TensorFlow", "tensorflow"),
                                                                   ("Keras", "keras"), ("NumPy", "numpy")) if key in run))
    return "; ".join(parts)
