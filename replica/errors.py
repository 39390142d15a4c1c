"""Typed errors of the replica solver."""


class ConvergenceError(RuntimeError):
    """The saddle-point equations did not converge.

    ``diagnostics`` holds what is needed to see why: the stage, the final residual,
    the number of iterations, the last iterate and the inputs.
    """

    def __init__(self, message: str, diagnostics: dict | None = None):
        self.diagnostics = dict(diagnostics or {})
        details = ", ".join(
            f"{k}={v!r}" for k, v in self.diagnostics.items() if k in ("stage", "residual", "iterations")
        )
        super().__init__(f"{message} ({details})" if details else message)
