"""Whether numba's on-disk cache already holds a package's compiled kernels.

``replica``'s kernels are ``@njit(cache=True)``: the first call in a fresh checkout compiles
them (tens of seconds, silent) and writes the machine code next to the sources
(``__pycache__/*.nbi``, ``*.nbc``); later processes load it in a fraction of a second. The demo
asks :func:`uncached_kernels` before its first call and says that it is compiling.

The answer comes from numba's own cache index, read as numba reads it before it decides to
compile: an index written by another numba version or for an older source file counts as
empty. That index is numba's internal API; if it changes, :func:`uncached_kernels` answers
None (unknown) rather than guess.
"""

from __future__ import annotations

import importlib
import pickle
import pkgutil

__all__ = ["IID_MODULES", "kernels", "uncached_kernels"]

# the modules of replica whose kernels the i.i.d. theory compiles (predict and its sweeps); the
# correlated theory's (replica.effective) compile only when a setting has a covariance
IID_MODULES = ("fixed_point", "lapack", "quadrature", "stage1", "stage2")


def kernels(package: str = "replica", modules=None) -> dict:
    """Every ``cache=True`` kernel of ``package`` that numba compiles on its own, by qualified name.

    A kernel with ``inline="always"`` is compiled into its callers, never by itself, so it has no
    cache entry of its own and is left out.

    Parameters
    ----------
    package : str, default "replica"
        An importable package whose modules define ``@njit(cache=True)`` kernels.
    modules : iterable of str, optional
        Only these of its modules (names without the package, e.g. :data:`IID_MODULES`); default all.

    Returns
    -------
    dict
        Qualified name -> numba dispatcher.
    """
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    found = {}
    root = importlib.import_module(package)
    for info in pkgutil.iter_modules(root.__path__, prefix=f"{package}."):
        if modules is not None and info.name.removeprefix(f"{package}.") not in modules:
            continue
        module = importlib.import_module(info.name)
        for name, obj in sorted(vars(module).items()):
            if (
                isinstance(obj, Dispatcher)
                and obj.__module__ == module.__name__
                and not isinstance(obj._cache, NullCache)
                and obj.targetoptions.get("inline", "never") != "always"
            ):
                found[f"{module.__name__}.{name}"] = obj
    return found


def uncached_kernels(package: str = "replica", modules=None) -> list[str] | None:
    """The kernels of ``package`` that the next call will compile, because numba's cache has none.

    Parameters
    ----------
    package : str, default "replica"
    modules : iterable of str, optional
        As in :func:`kernels`.

    Returns
    -------
    list of str or None
        Qualified names of the kernels without a usable cache entry (empty: everything is
        cached), or None if numba's cache index could not be read (its internal API changed).
    """
    uncached = []
    try:
        found = kernels(package, modules)
    except (ImportError, AttributeError):  # numba's internals moved: cannot tell
        return None
    for name, kernel in found.items():
        try:
            entries = kernel._cache._cache_file._load_index()
        except AttributeError:
            return None
        except (OSError, EOFError, ValueError, pickle.UnpicklingError):  # a damaged index: numba recompiles
            entries = None
        if not entries:
            uncached.append(name)
    return uncached
