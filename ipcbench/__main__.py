# `python -m ipcbench`: main() with no arguments installs the signal handlers first.
from ipcbench.cli import main

raise SystemExit(main())
