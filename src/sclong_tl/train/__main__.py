"""``python -m sclong_tl.train ...`` (and ``torchrun --nproc_per_node G -m sclong_tl.train ...``)."""

import sys

from sclong_tl._commands.pretrain import main

sys.exit(main())
