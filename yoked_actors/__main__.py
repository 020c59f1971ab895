"""`python -m yoked_actors` is the `yoked` command."""

from yoked_actors.cli import main

main()
