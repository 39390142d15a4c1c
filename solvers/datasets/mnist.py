"""MNIST designs for semi-artificial transfer experiments.

The design rows are real images and the responses are synthetic (drawn by the
experiment from the model of THEORY.md), so only design matrices are built
here.  One digit class is the target; each source is a digit class or a group
of classes.

Standardization, with statistics of the pooled images of all selected digits:
pixels constant over them are dropped; each remaining column gets zero mean and
variance 1/N (N = number of kept pixels), the theory's convention for design
entries, so rows have squared norm ≈ 1.  Using one pooled scaling keeps a pixel
meaning the same in every dataset; within one digit class the columns are
therefore not exactly centered (the class mean image is part of what makes the
domains differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .idx import read_idx

__all__ = ["load_mnist", "locate_mnist", "MnistDesigns", "mnist_designs"]


def locate_mnist(directory, prefix: str = "t10k") -> tuple[Path, Path]:
    """The image and label idx files ``{prefix}-images-idx3-ubyte`` and ``{prefix}-labels-idx1-ubyte``,
    gzipped (``.gz``, as published) or not, in ``directory`` or in its ``mnist/`` folder.

    Only names are checked, nothing is read. Raises ValueError naming what is missing.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "mnist").mkdir()
    >>> for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte"):
    ...     _ = (root / "mnist" / name).write_bytes(b"")
    >>> [p.relative_to(root).as_posix() for p in locate_mnist(root)]
    ['mnist/t10k-images-idx3-ubyte.gz', 'mnist/t10k-labels-idx1-ubyte']
    """
    directory = Path(directory).expanduser()
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    for folder in (directory, directory / "mnist"):
        found = [next((folder / n for n in (f"{s}.gz", s) if (folder / n).is_file()), None) for s in stems]
        if all(found):
            return found[0], found[1]
    missing = " and ".join(f"{s}[.gz]" for s in stems)
    raise ValueError(f"{directory}: no MNIST data, expected {missing} here or in {directory / 'mnist'}")


def load_mnist(directory, prefix: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    """Images (n, rows, cols) uint8 and labels (n,) from the idx files :func:`locate_mnist` finds.

    Raises ValueError for missing or malformed files, or when the image and
    label counts differ.
    """
    images_path, labels_path = locate_mnist(directory, prefix)
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3:
        raise ValueError(f"{images_path}: expected 3 dimensions (n, rows, cols), got shape {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected 1 dimension, got shape {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} has {len(images)} images but {labels_path} has {len(labels)} labels")
    return images, labels


@dataclass(frozen=True, eq=False)
class MnistDesigns:
    """Standardized designs: target (training and held-out parts) and sources.

    ``rows`` fields index the images passed to :func:`mnist_designs`;
    ``pixels`` are the kept flat pixel indices (the N columns).
    """

    target: np.ndarray
    target_test: np.ndarray
    sources: tuple[np.ndarray, ...]
    target_digit: int
    source_digits: tuple[tuple[int, ...], ...]
    pixels: np.ndarray
    target_rows: np.ndarray
    target_test_rows: np.ndarray
    source_rows: tuple[np.ndarray, ...]

    @property
    def designs(self) -> tuple[np.ndarray, ...]:
        """Training designs in the theory's order: target first, then sources."""
        return (self.target, *self.sources)

    @property
    def n_features(self) -> int:
        return len(self.pixels)


def mnist_designs(
    images: np.ndarray,
    labels: np.ndarray,
    target_digit: int,
    source_digits=None,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> MnistDesigns:
    """Per-dataset standardized design matrices (see the module docstring).

    ``source_digits`` lists the sources, each a digit or a tuple of digits
    pooled into one source; by default every other digit present is its own
    source.  A fixed random ``test_fraction`` of the target images (``seed``)
    is held out.
    """
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if source_digits is None:
        source_digits = [d for d in np.unique(labels).tolist() if d != target_digit]
    groups = tuple(tuple(int(d) for d in np.atleast_1d(g)) for g in source_digits)
    used = [target_digit] + [d for g in groups for d in g]
    if len(set(used)) != len(used):
        raise ValueError(f"target digit {target_digit} and source digits {groups} overlap")
    for d in used:
        if not np.any(labels == d):
            raise ValueError(f"no image has label {d}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")

    flat = images.reshape(len(images), -1).astype(np.float64)
    pooled = np.isin(labels, used)
    mean, std = flat[pooled].mean(axis=0), flat[pooled].std(axis=0)
    pixels = np.flatnonzero(std > 0)
    design = (flat[:, pixels] - mean[pixels]) / (std[pixels] * np.sqrt(len(pixels)))

    target_rows = np.random.default_rng(seed).permutation(np.flatnonzero(labels == target_digit))
    n_test = max(1, int(round(test_fraction * len(target_rows))))
    test_rows, train_rows = np.sort(target_rows[:n_test]), np.sort(target_rows[n_test:])
    if len(train_rows) == 0:
        raise ValueError(f"digit {target_digit} has too few images ({len(target_rows)}) to hold out a test part")
    source_rows = tuple(np.flatnonzero(np.isin(labels, g)) for g in groups)
    return MnistDesigns(
        target=design[train_rows],
        target_test=design[test_rows],
        sources=tuple(design[r] for r in source_rows),
        target_digit=int(target_digit),
        source_digits=groups,
        pixels=pixels,
        target_rows=train_rows,
        target_test_rows=test_rows,
        source_rows=source_rows,
    )
