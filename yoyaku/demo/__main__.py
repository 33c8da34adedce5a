from yoyaku.demo.main import main

raise SystemExit(main())
