"""`python -m hgate` is `hgate`."""

from hgate.cli.app import main

main()
