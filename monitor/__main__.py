"""The ``monitor`` command: ``python -m monitor`` and the console script both start here."""


def main() -> None:
    # The CLI is imported here rather than at the top of the module. Extraction workers are started by
    # multiprocessing, which runs the parent's main script again in each new worker (as ``__mp_main__``):
    # with the console script that is a script importing this module, and a top-level import would load
    # the whole CLI (some 70 MB and a second and a half of CPU) into every worker, again at each recycling.
    from monitor.cli import app

    app(prog_name="monitor")


if __name__ == "__main__":
    main()
