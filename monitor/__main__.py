"""The ``monitor`` command: ``python -m monitor`` and the console script both start here."""

import gc

GC_THRESHOLDS = (50_000, 20, 10)
"""The collector's thresholds (Python's are 700, 10, 10). A poll allocates and frees hundreds of thousands of
objects that form no cycles (rows, parsed entries, terms): at 700 the young generation was collected every
few hundred of them, and every tenth of those collected the middle one, walking the database layer's and the
caches' structures each time. A 1,000-feed first poll spent 0.8-0.9 s of its 25 s of CPU in the collector,
0.15 s with these; its memory did not change (293-299 MB PSS against 292-298 MB)."""


def main() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
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
