"""Experiments: one module per figure, run as ``python -m experiments.<name>``.

Shared infrastructure:

* :mod:`experiments.cli` -- common command line (``--quick --out --cache
  --workers --scheduler``), validated before any work;
* :mod:`experiments.sweep` -- cached, resumable, parallel evaluation over grid
  points (:func:`~experiments.sweep.run_sweep`, and
  :func:`~experiments.sweep.run_chains` for warm-started chains);
* :mod:`experiments.io` -- atomic CSV, JSON and figure writers.

A typical experiment module::

    \"\"\"Figure 3: target error versus the pretraining sample ratio.\"\"\"
    import numpy as np
    from experiments import cli, io, sweep

    def evaluate(point):                      # module level: picklable
        return {"eg": float(point["alpha"]) ** -0.5}

    def main(argv=None):
        args = cli.parse_args(cli.build_parser("fig3", __doc__), argv)
        alphas = np.linspace(0.1, 2.0, 5 if args.quick else 40)
        grid = [{"alpha": float(a)} for a in alphas]
        results = sweep.run_sweep(evaluate, grid, tag="fig3/v1", **cli.sweep_options(args))
        io.write_csv(args.out / "fig3.csv", [p | r for p, r in zip(grid, results)])

    if __name__ == "__main__":
        main()
"""
