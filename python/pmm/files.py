"""Writing files so that no reader ever sees half of one."""
import os
import tempfile


def write_atomically(path, write):
    """Call write(file) on a temporary file beside `path`, flush it to disk, then rename it
    over `path`. An interrupted write leaves the old file (or none) and a stray
    `.NAME.*.tmp`, never a truncated `path`."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    umask = os.umask(0)
    os.umask(umask)
    try:
        # mkstemp makes the file 0600; the result gets the mode open() would give it.
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
