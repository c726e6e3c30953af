"""Offline evaluation: datasets, splits, protocols, metrics, pipelines, runner, reports.

Entry points: :func:`eval.runner.run_eval` (``recchat eval``) and :func:`eval.compare.compare`
(``recchat eval --compare A B``). See docs/evaluation.md.
"""
