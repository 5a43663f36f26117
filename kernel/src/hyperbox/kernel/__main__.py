"""``python -m hyperbox.kernel``: the ``hbk`` command (what ``torchrun -m hyperbox.kernel run ...`` starts)."""

import sys

from hyperbox.kernel.cli import main

sys.exit(main())
