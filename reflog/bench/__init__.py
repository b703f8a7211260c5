"""``reflog bench``: reflog's speed measured in one run against this machine's raw limits.

Every section returns :class:`~reflog.bench.results.Section` values; :mod:`reflog.bench.report`
prints them as a table, writes them as JSON and draws them as PNG plots. specs/performance.md
says what each figure measures and how to read its ratio.
"""
