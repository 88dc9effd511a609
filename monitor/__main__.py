"""The ``monitor`` command: ``python -m monitor`` and the console script both start here."""

import gc


def main() -> None:
    # The CLI is imported here rather than at the top of the module. Extraction workers are started by
    # multiprocessing, which runs the parent's main script again in each new worker (as ``__mp_main__``):
    # with the console script that is a script importing this module, and a top-level import would load
    # the whole CLI (some 70 MB and a second and a half of CPU) into every worker, again at each recycling.
    from monitor.cli import run

    try:
        run()
    finally:
        # The command is done: what it built is freed as the interpreter ends, by reference counting, but the
        # collections the interpreter runs as it ends would walk all of it first. After a poll that is
        # hundreds of thousands of objects (caches of terms and profiles, the database layer's structures):
        # a fifth of a second, a fiftieth of a two-hundred-article poll, spent between the last feed and the
        # exit. Frozen, they are left out of those walks; files and connections still close as they did.
        gc.freeze()


if __name__ == "__main__":
    main()
