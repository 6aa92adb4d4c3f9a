"""``python -m vaultgate``"""

from vaultgate.cli.main import run

run()
