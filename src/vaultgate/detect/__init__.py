"""Detectors for secrets and personal data, as data-driven rules shared by privacy/ and scanner/."""
