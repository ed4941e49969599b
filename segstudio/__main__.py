from segstudio.cli import main

raise SystemExit(main())
