"""Faults while writing (a full disk, a missing permission, a file where a folder should be) in one line:
which file, what happened, what to do. Not user mistakes in a config (errors.UserError) and not bugs:
the CLI prints the line and exits 1, and a run that met one is recorded failed where the disk allows."""
from __future__ import annotations

import errno
import os
import re

# What to do about each fault; the same command resumes what was finished (runs resume from their last epoch).
ADVICE = {
    errno.ENOSPC: "free some space, then run the same command again: it resumes where it stopped",
    errno.EDQUOT: "free some space within your quota, then run the same command again: it resumes where it stopped",
    errno.EACCES: "make it writable (or choose another --out), then run the same command again",
    errno.EPERM: "make it writable (or choose another --out), then run the same command again",
    errno.EROFS: "the file system is read-only: choose another --out",
    errno.ENOTDIR: "a file stands where a folder should be: move it or choose another --out",
    errno.EISDIR: "a folder stands where a file should be: move it or choose another --out",
    errno.EEXIST: "something else already stands at that path: move it or choose another --out",
    errno.ENAMETOOLONG: "choose a shorter --out",
}
FAULT_EXIT_CODE = 1


class WriteFault(Exception):
    """A write fault already put into its one line (e.g. reported by a worker process)."""


def write_fault(error: BaseException) -> OSError | None:
    """The OSError behind `error` (itself, or what it was raised from) when it is a write fault."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in ADVICE:
            return error
        error = error.__cause__ or error.__context__
    return None


def _filename(error: OSError) -> str | None:
    if error.filename:
        return str(error.filename)
    # h5py and others put the file in the message: "... filename = '/path/x.weights.h5', ..."
    match = re.search(r"filename = '([^']+)'", str(error))
    return match.group(1) if match else None


def fault_line(error: OSError) -> str:
    """'<file>: No space left on device; free some space, then ...' (the file when known)."""
    where = _filename(error)
    what = os.strerror(error.errno)
    return f"{where + ': ' if where else ''}{what}; {ADVICE[error.errno]}"
