"""Run every Performer stack through the performer-pytorch modules (the definition the fast paths must match)."""

from __future__ import annotations

import contextlib
from unittest import mock

from sclong_tl.model.performer import ScLongPerformer


@contextlib.contextmanager
def modules_path():
    def definition(self, x, query_index=None):
        self._count_call()
        out = self.module_forward(x)
        if query_index is not None:
            out = out.gather(1, query_index.unsqueeze(-1).expand(-1, -1, out.shape[-1]))
        return out

    with mock.patch.object(ScLongPerformer, "forward", definition):
        yield
