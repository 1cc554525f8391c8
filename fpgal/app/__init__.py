"""The application layer: studies from a config file, the command line and their reports.

config → builders (config → model objects) → pipeline (stages, cached by config text) → report;
:mod:`~fpgal.app.cli` and :mod:`~fpgal.app.commands` are ``fpgal <command>``; :mod:`~fpgal.app.scan`
and :mod:`~fpgal.app.studies` are ``fpgal scan``, ``fpgal converge`` and ``fpgal benchmark``. Nothing
below this layer imports it (tests/core/test_layers.py).
"""
