"""``python -m vsml.cloning clone-forward --scale smoke --out x.npz``."""

from vsml.cloning.cli import main

raise SystemExit(main())
