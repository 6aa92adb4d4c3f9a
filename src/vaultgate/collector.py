"""The garbage collector and a long-lived server process."""

from __future__ import annotations

import gc


def freeze_startup_objects() -> None:
    """Move what start-up imported and built (modules, the snapshot, the routing tables: hundreds of
    thousands of objects that live as long as the process) out of the garbage collector's sight.

    A full collection otherwise walks all of them every few thousand requests: a pause of several
    milliseconds in the middle of some request, most of the p99 at one connection
    (docs/PERFORMANCE.md, "Collector pauses"). Only the first gateway started in a process does it:
    a test process starting many gateways must not make the garbage of later ones permanent.
    """
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
