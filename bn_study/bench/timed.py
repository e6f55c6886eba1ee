"""One benchmarked process: started, waited for, and measured by the kernel (wait4)."""
from __future__ import annotations

import os
import resource
import subprocess
import time
from typing import IO


def run_timed(command: list[str], env: dict, stdout: IO, stderr: IO) -> tuple[float, int, resource.struct_rusage]:
    """Wall seconds, exit code and resource usage (CPU seconds, peak RSS) of `command`."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
    _, status, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - started, os.waitstatus_to_exitcode(status), usage
