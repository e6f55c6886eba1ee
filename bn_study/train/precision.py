"""Which number format a run computes in (train.precision), and what the running machine makes of it:
bfloat16 is fast only where the CPU computes it itself (AVX512_BF16 dot products, AMX tiles); elsewhere
TensorFlow emulates it, slower than float32. One line at the start of a run says so."""
from __future__ import annotations

from bn_study.config.schema import DEFAULT_PRECISION

# /proc/cpuinfo flags of the instructions that compute bfloat16 (x86; ARM's is "bf16").
BFLOAT16_ISA = ("amx_bf16", "avx512_bf16", "bf16")
# What the equivalence experiment found, for the advice below (its report, README and docs/experiments.md).
EVIDENCE = "results/precision/REPORT.md"


def bfloat16_instructions(isa: list[str]) -> list[str]:
    """The CPU's bfloat16 instruction sets among its ISA flags (cpu_facts()['isa'])."""
    return [name for name in BFLOAT16_ISA if name in isa]


def precision_note(precision: str, isa: list[str], gpu: bool) -> str | None:
    """One line when the precision does not suit this machine, or when a faster one would; None otherwise."""
    hardware = bfloat16_instructions(isa)
    if gpu:
        return None
    if precision == "mixed_bfloat16" and not hardware:
        return ("train.precision=mixed_bfloat16: this CPU has no bfloat16 instructions (avx512_bf16, amx_bf16), so "
                "TensorFlow emulates them and the run is slower than in float32; train.precision=float32 is faster here")
    if precision == "mixed_float16":
        return ("train.precision=mixed_float16 is for GPUs: on a CPU TensorFlow emulates float16, slower than "
                "float32; use float32, or mixed_bfloat16 on a CPU with bfloat16 instructions")
    if precision == DEFAULT_PRECISION and hardware:
        return (f"this CPU computes bfloat16 itself ({', '.join(hardware)}): --set train.precision=mixed_bfloat16 "
                f"trains faster; whether it gives the same answers: {EVIDENCE}")
    return None
