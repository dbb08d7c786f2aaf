"""The stages the CLI's verbs call: preprocess, train, evaluate, sample, search, report, export, runs.

None imports another; each stands on the layers below (docs/ARCHITECTURE.md, tests/test_layering.py).
"""
