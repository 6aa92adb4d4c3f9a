"""The ``vaultgate`` command: parses arguments, calls services, prints results. No business logic."""
