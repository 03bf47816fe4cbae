"""Writers, one per output format (as hyperfine's exporters): they turn analysis results
into text and never compute a figure themselves.

- tables.py: display frames and sentences every writer shares (comparison tables,
  summaries), numbers formatted through ipcbench.core.units only.
- terminal.py: the end-of-run summary table, advise's answer, compare's verdict lines.
- markdown.py: compare.md (and the overlay charts beside it).
- html.py: the self-contained report.html.
- history.py: `history`'s terminal lines, history.md and JSON document.
"""
