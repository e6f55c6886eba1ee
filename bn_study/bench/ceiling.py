"""What this CPU can do at most, for the roofline: peak arithmetic and memory bandwidth.

The peak is the textbook one, vector lanes × FMA units × 2 FLOP × clock × cores, with the FMA
units per core taken from the CPU kind (Linux does not report them): Intel's AVX-512 server cores
have two 512-bit FMA units; AMD's Zen 2 to Zen 4 have two 256-bit ones (Zen 4 splits an AVX-512
instruction in two), Zen 5 two 512-bit ones; AVX2 cores two 256-bit ones. The clock is the one
/proc/cpuinfo reports, which in a virtual machine is the nominal clock, not the turbo one. So a
float32 matrix product is timed too, on the same threads: when it runs faster than the textbook
peak (turbo), the roof is the matrix product's speed. The bandwidth is measured by copying a 256 MB
array, one slice per thread, counted as STREAM's copy counts it (bytes read + bytes written).
"""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from bn_study.train.machine import cpuinfo

MATMUL_SIZE = 1536  # 7.2 GFLOP per product: long enough to time, far beyond any cache's reuse limit
COPY_FLOATS = 1 << 26  # 256 MB of float32: well beyond the last-level caches met (up to 105 MB)
TRIALS = 5


@dataclasses.dataclass(frozen=True)
class Ceiling:
    """Peak FLOP/s and bytes/s of `cores` cores, the textbook peak's terms, and how each was found."""

    cores: int
    clock_ghz: float | None
    flop_per_cycle: int | None  # per core, float32
    units: str  # what flop_per_cycle assumes
    matmul_gflops: float
    bandwidth_gbs: float

    @property
    def textbook_gflops(self) -> float | None:
        if self.clock_ghz is None or self.flop_per_cycle is None:
            return None
        return self.flop_per_cycle * self.clock_ghz * self.cores

    @property
    def peak_gflops(self) -> float:
        """The compute roof: the textbook peak, or the measured matrix product where that is faster."""
        return max(self.textbook_gflops or 0.0, self.matmul_gflops)

    def describe(self) -> str:
        """One line: the peak's terms, the matrix product and the bandwidth as measured."""
        textbook = (f"{self.flop_per_cycle} FLOP/cycle ({self.units}) × {self.clock_ghz:g} GHz × {self.cores} "
                    f"core(s) = {self.textbook_gflops:.0f} GFLOP/s" if self.textbook_gflops else
                    "textbook peak unknown (no clock or vector ISA in /proc/cpuinfo)")
        return (f"compute roof {self.peak_gflops:.0f} GFLOP/s: {textbook}; a {MATMUL_SIZE}² float32 matrix "
                f"product measured {self.matmul_gflops:.0f} GFLOP/s. Memory roof {self.bandwidth_gbs:.1f} GB/s "
                f"(a {COPY_FLOATS * 4 >> 20} MB copy on {self.cores} thread(s))")


def flop_per_cycle(vendor: str, family: int | None, flags: set[str]) -> tuple[int | None, str]:
    """float32 FLOP per cycle per core for a CPU kind, and the units that gives it."""
    if "avx512f" in flags and (vendor == "GenuineIntel" or (vendor == "AuthenticAMD" and (family or 0) >= 26)):
        return 64, "two 512-bit FMA units"
    if "avx2" in flags and "fma" in flags:
        return 32, "two 256-bit FMA units"
    if "avx" in flags:
        return 16, "256-bit add and multiply, no FMA"
    return None, "unknown vector units"


def clock_ghz(fields: dict[str, list[str]]) -> float | None:
    """The highest clock /proc/cpuinfo lists, in GHz (nominal in a virtual machine)."""
    try:
        return round(max(float(v) for v in fields["cpu MHz"]) / 1000, 3)
    except (KeyError, ValueError):
        return None


def matmul_gflops() -> float:
    """float32 GFLOP/s of TensorFlow's matrix product on this process's threads (best of TRIALS)."""
    import tensorflow as tf

    a = tf.random.stateless_uniform((MATMUL_SIZE, MATMUL_SIZE), seed=(0, 1))
    b = tf.random.stateless_uniform((MATMUL_SIZE, MATMUL_SIZE), seed=(0, 2))
    product = tf.function(lambda a, b: tf.reduce_sum(tf.linalg.matmul(a, b)))
    product(a, b).numpy()  # trace and warm up
    best = float("inf")
    for _ in range(TRIALS):
        started = time.perf_counter()
        product(a, b).numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * MATMUL_SIZE ** 3 / best / 1e9


def copy_gbs(threads: int) -> float:
    """Memory bandwidth in GB/s: a COPY_FLOATS copy, one slice per thread (best of TRIALS)."""
    source, target = np.ones(COPY_FLOATS, np.float32), np.zeros(COPY_FLOATS, np.float32)
    slices = [slice(i * COPY_FLOATS // threads, (i + 1) * COPY_FLOATS // threads) for i in range(threads)]
    best = float("inf")
    with ThreadPoolExecutor(threads) as pool:  # NumPy releases the GIL while it copies
        for _ in range(TRIALS):
            started = time.perf_counter()
            list(pool.map(lambda part: np.copyto(target[part], source[part]), slices))
            best = min(best, time.perf_counter() - started)
    return 2 * source.nbytes / best / 1e9


def measure_ceiling(threads: int) -> Ceiling:
    """The roofline's two roofs for `threads` cores of this CPU (TensorFlow's threads already set)."""
    fields = cpuinfo()
    family = fields.get("cpu family", [None])[0]
    per_cycle, units = flop_per_cycle(fields.get("vendor_id", [""])[0], int(family) if family else None,
                                      set(fields.get("flags", [""])[0].split()))
    return Ceiling(cores=threads, clock_ghz=clock_ghz(fields), flop_per_cycle=per_cycle, units=units,
                   matmul_gflops=round(matmul_gflops(), 1), bandwidth_gbs=round(copy_gbs(threads), 2))
