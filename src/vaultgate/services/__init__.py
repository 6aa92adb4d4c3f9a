"""The operations the CLI, admin API and console share. Never prints, exits or knows HTTP."""
