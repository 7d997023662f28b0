"""Command line: ``python -m xraylib COMMAND …`` (also the ``xraylib`` console script).

Every user error (missing folder, unusable layout, bad argument, bad model file) prints one
line to stderr and exits non-zero; no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from xraylib import config


def _scan(args: argparse.Namespace) -> int:
    from xraylib.data import scan

    found = scan(args.dir, progress=not args.json and sys.stderr.isatty())
    if args.json:
        print(json.dumps(found.to_json(), indent=2))
        return 0
    print(f"data: {found.root}")
    for split, by_label in found.counts().items():
        print(f"{split:>5}: " + "  ".join(f"{label} {n}" for label, n in by_label.items()))
    print(f"ignored: {len(found.ignored)} junk or non-data files")
    print(f"skipped: {len(found.skipped)}")
    for path, reason in found.skipped:
        print(f"  skipped {path}: {reason}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from xraylib.download import MENDELEY_URL, download

    dest = download(dest=args.dest, url=args.url or MENDELEY_URL, sha256=args.sha256,
                    source=args.source)
    print(f"data ready in {dest}")
    return 0


def _synthetic(args: argparse.Namespace) -> int:
    from xraylib.synthetic import make_synthetic

    root = make_synthetic(args.dir, per_class=args.per_class, seed=args.seed)
    print(f"phantom data set written to {root}")
    return 0


def _notebooks(args: argparse.Namespace) -> int:
    from xraylib.notebook import execute, series

    chosen = [p for p in series() if not args.names or any(n in p.name for n in args.names)]
    if not chosen:
        print(f"xraylib notebooks: no notebook matches {args.names}", file=sys.stderr)
        return 2
    print(execute(chosen).to_string(index=False))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xraylib", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: Callable[[argparse.Namespace], int], text: str):
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(run=run)
        return sub

    sub = command("scan", _scan, "count usable images per split and label; list skipped files")
    sub.add_argument("dir", type=Path)
    sub.add_argument("--json", action="store_true", help="print one JSON object")

    sub = command("download", _download, "get the data set into data/chest_xray")
    sub.add_argument("--dest", type=Path, default=config.DEFAULT_IMAGES_DIR)
    sub.add_argument("--url", help="archive URL (default: Mendeley Data ChestXRay2017.zip)")
    sub.add_argument("--sha256", help="expected sha256 of the archive")
    sub.add_argument("--from", dest="source", type=Path,
                     help="a local zip or folder to install instead of downloading")

    sub = command("synthetic", _synthetic, "write a phantom data set in the real layout")
    sub.add_argument("dir", type=Path)
    sub.add_argument("--per-class", type=int, default=40)
    sub.add_argument("--seed", type=int, default=0)

    sub = command("notebooks", _notebooks, "execute the notebook series in place, timing each")
    sub.add_argument("names", nargs="*", help="parts of names to run (default: all), e.g. 01 02")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status."""
    from xraylib.data import DataError
    from xraylib.download import DownloadError

    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except DataError as err:
        print(f"xraylib {args.command}: {err}", file=sys.stderr)
        return 2
    except DownloadError as err:
        print(f"xraylib {args.command}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
