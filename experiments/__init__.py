"""Research code behind the docs, outside the library: ``python -m experiments.stateful`` (``nox -s experiment``)
and ``python -m experiments.filters`` (``nox -s filter_experiment``), run from the repository root.

Like icefall's ``egs/``: these scripts may import any plugin (the synthetic corpus comes from statecatcher-synth);
``statecatcher`` itself never imports them.  ``recipe.py`` is the training recipe and the decodes both share.
"""
