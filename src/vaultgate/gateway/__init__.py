"""The ASGI data plane: ``/v1/*`` through the stage order in :mod:`vaultgate.gateway.pipeline`."""
