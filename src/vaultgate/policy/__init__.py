"""Authorization decisions: pure functions of (grant, request, now). No I/O here."""
