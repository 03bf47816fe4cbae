"""The analysis half: reading finished runs and judging them (no figures, no output).

- runs.py: a run folder or results.csv -> a Run record; machine metadata side by side.
- frames.py: case identity, one row per case, series and facets of a results frame.
- verdict.py: per-case verdicts (faster / slower / within noise) on two result rows.
- compare.py: match runs case by case, verdict tables, per-run speed/efficiency summary.
- advise.py: the fastest channel for a workload, from one run.
- steps.py: step detection in a history (penalised piecewise-constant L1 fit).
- history.py: many runs -> per machine and case, the figure over time and its steps.

Analysis reads files only; it never imports the runner or mechanism implementations.
Writers (terminal, markdown, HTML) live in ipcbench.render, figures in ipcbench.plotting.
"""
