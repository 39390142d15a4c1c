"""Typed errors of the replica solver."""


class ConvergenceError(RuntimeError):
    """The saddle-point equations (THEORY.md §3) did not converge.

    Raised by :func:`replica.predict` (and by :func:`replica.optimize` when no trial point
    converged) instead of returning NaN.

    Parameters
    ----------
    message : str
        What failed.
    diagnostics : dict, optional
        What is needed to see why: the stage ("stage 1", "stage 2" or "final"), the final
        ``residual``, the number of ``iterations``, the last iterate and the inputs. The first
        three are repeated in the message.

    Attributes
    ----------
    diagnostics : dict
        A copy of ``diagnostics``.

    Examples
    --------
    >>> from replica import ConvergenceError
    >>> err = ConvergenceError("stage 2 did not converge", {"stage": "stage 2", "residual": 1e-6})
    >>> str(err)
    "stage 2 did not converge (stage='stage 2', residual=1e-06)"
    >>> err.diagnostics["residual"]
    1e-06
    """

    def __init__(self, message: str, diagnostics: dict | None = None):
        self.diagnostics = dict(diagnostics or {})
        details = ", ".join(
            f"{k}={v!r}" for k, v in self.diagnostics.items() if k in ("stage", "residual", "iterations")
        )
        super().__init__(f"{message} ({details})" if details else message)
