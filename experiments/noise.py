"""Value versus support against noise: target noise σ_t and the source-to-target noise ratio σ_s/σ_t.

Two-task prior, α_source = 2, one diagram for a small and one for a large α_target. At each
(σ_t, σ_s/σ_t) every strategy is optimized (replica.optimize); the figures show the winner of
value-only against support-only and the relative excess errors over the full strategy, as in
experiments.phase_diagram. Outputs ``noise_alpha_target_<α>.{csv,png,pdf}``.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("noise")

import numpy as np

from experiments import io
from experiments.phase_diagram import optimized_grid, write_outputs

TAG = "noise/v6"
PRIOR = {"prior": "two_task", "alpha_source": 2.0, "rho_shared": 0.1, "rho_target": 0.02, "rho_source": 0.02}
ALPHA_TARGETS = (0.3, 2.0)


@io.reports_outputs
def main(argv=None):
    args = cli.parse_args(cli.experiment_parser("noise", __doc__), argv)
    args.quick |= args.smoke
    n = args.grid or (2 if args.smoke else (3 if args.quick else 16))
    sigmas = np.geomspace(0.03, 1.0, n)
    ratios = np.geomspace(0.25, 4.0, n)
    for alpha in ALPHA_TARGETS[:1] if args.smoke else ALPHA_TARGETS:
        rows = [
            [
                {
                    **PRIOR,
                    "alpha_target": alpha,
                    "sigma_target": float(s),
                    "noise_ratio": float(r),
                    "sigma_source": float(s * r),
                }
                for s in sigmas
            ]
            for r in ratios
        ]
        table = optimized_grid(args, rows, TAG, f"noise α_t={alpha}")
        write_outputs(
            args.out / f"noise_alpha_target_{alpha:g}",
            table,
            sigmas,
            ratios,
            "sigma_target",
            "noise_ratio",
            title=f"α_target = {alpha:g}, α_source = {PRIOR['alpha_source']:g}",
        )


if __name__ == "__main__":
    main()
