from ipcbench.cli import main

raise SystemExit(main())
