"""sealbatch research layer: the MEV lab.

Public entry points:

* :func:`sealbatch.research.scenario.load_scenario` and
  :class:`sealbatch.research.scenario.Scenario`
  (``with_override``, ``value_at``): scenarios from YAML;
* :func:`sealbatch.research.runner.run_simulation`: one (scenario, mechanism, seed) run
  -> :class:`sealbatch.research.runner.RunResult` (``metrics`` row, simulation, path);
* :func:`sealbatch.research.sweep.run_sweep`: every mechanism x seed (x swept value) on
  Dask -> a pandas DataFrame of metrics rows;
* :mod:`sealbatch.research.stats` (``bootstrap_ci``, ``paired_test``) and
  :func:`sealbatch.research.report.write_report`;
* :mod:`sealbatch.research.lobster`: LOBSTER export, import and batch-auction replay.

The command line is ``sealbatch lab run`` (venue/commands/lab.py); the model
and every metric are defined in docs/lab.md.
"""
