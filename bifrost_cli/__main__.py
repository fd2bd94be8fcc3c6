"""``python -m bifrost_cli``: the same program as the ``bifrost`` command, under the same name
(so its help, and shell completion, read ``bifrost``)."""

from bifrost_cli.cli.app import main

if __name__ == "__main__":
    main(prog_name="bifrost")
