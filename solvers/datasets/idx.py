"""Reader for the idx format of MNIST (LeCun et al.), gzipped or plain.

Layout: a 4-byte magic number — two zero bytes, a dtype code, the number of
dimensions — then each dimension as a big-endian uint32, then the data,
big-endian, in C order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "IDX_DTYPES"]

IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path) -> np.ndarray:
    """The array stored in an idx file (native byte order).

    Gzip is detected from the content, not the file name.  Raises ValueError,
    naming the file and the reason, for a bad magic number, an unknown dtype
    code, a truncated or over-long file, or corrupted gzip data.
    """
    path = Path(path).expanduser()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read idx file ({exc.strerror or exc})") from exc
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupted gzip data ({exc})") from exc
    return _parse(path, raw)


def _parse(path: Path, raw: bytes) -> np.ndarray:
    if len(raw) < 4:
        raise ValueError(f"{path}: too short for an idx header ({len(raw)} bytes)")
    if raw[:2] != b"\x00\x00":
        raise ValueError(f"{path}: wrong magic number 0x{raw[:4].hex()} (an idx file starts with two zero bytes)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise ValueError(f"{path}: wrong magic number 0x{raw[:4].hex()} (unknown dtype code 0x{code:02x})")
    if ndim == 0:
        raise ValueError(f"{path}: idx header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated header ({len(raw)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header
    if actual < expected:
        raise ValueError(f"{path}: truncated data ({actual} bytes, shape {shape} of {dtype.name} needs {expected})")
    if actual > expected:
        raise ValueError(f"{path}: {actual - expected} trailing bytes after the data of shape {shape}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
