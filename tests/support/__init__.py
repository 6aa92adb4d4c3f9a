"""Shared test support: real servers on loopback, databases, a capturing upstream."""
