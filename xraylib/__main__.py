"""Command line: ``python -m xraylib COMMAND …`` (also the ``xraylib`` console script).

Every user error (missing folder, unusable layout, bad argument, bad model file) prints one
line to stderr and exits non-zero; no traceback. Every JSON output is strict JSON: an
undefined number (NaN, infinity) is ``null``. The exit statuses are :data:`EXIT_STATUS`
(also printed by ``--help``).

The run's settings (``XRAY_PROFILE``, ``XRAY_SEED``, ``XRAY_DATA_DIR``) are read once, by
:func:`main`, and handed to each command as ``args.profile``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from xraylib import config, population

DEFAULT_CNN = "cnn_bn_gap"
EXIT_STATUS = (
    "exit status: 0 done; 1 a file could not be read (predict) or a download failed; 2 a user "
    "error; 3 an image was flagged by the input-quality gate (predict), or the folder differs "
    "from the training images or cannot be judged (check)"
)


def _strict(value: object) -> object:
    """``value`` with every NaN or infinite number (also NumPy's) replaced by ``None``."""
    if isinstance(value, dict):
        return {key: _strict(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(item) for item in value]
    if hasattr(value, "dtype") and hasattr(value, "item"):  # a NumPy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json(value: object, indent: int | None = None) -> str:
    """``value`` as strict JSON text (undefined numbers as ``null``)."""
    return json.dumps(_strict(value), indent=indent, allow_nan=False)


def _scan(args: argparse.Namespace) -> int:
    from xraylib.data import scan

    found = scan(args.dir, progress=not args.json and sys.stderr.isatty())
    if args.json:
        print(_json(found.to_json(), indent=2))
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
    from xraylib.download import MENDELEY_URL, fetch_dataset

    dest = fetch_dataset(
        dest=args.dest, url=args.url or MENDELEY_URL, sha256=args.sha256, source=args.source
    )
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


def _train(args: argparse.Namespace) -> int:
    import dataclasses

    from xraylib import data, evaluate, experiment, models, results, train

    base = args.profile
    profile = dataclasses.replace(
        base, image_size=args.image_size or base.image_size, epochs=args.epochs or base.epochs
    )
    seed = profile.seed if args.seed is None else args.seed
    splits = data.load_splits(args.data, profile=profile, seed=seed, progress=False)
    train.new_session(seed)
    if args.model == "dense":
        model = models.build_dense(profile.image_size, name="dense")
    else:
        model = experiment.DESIGNS[DEFAULT_CNN].build(profile.image_size, name=DEFAULT_CNN)
    out = args.out or results.model_path(f"cli_{args.model}")
    result = train.fit(model, splits, profile=profile, seed=seed, save_path=out, verbose=2)
    p_val = result.model.predict(splits.x_val, batch_size=256, verbose=0).ravel()
    scores = {k: round(v, 6) for k, v in evaluate.compute_metrics(splits.y_val, p_val).items()}
    print(
        _json(
            {
                "model": str(out),
                "seed": seed,
                "image_size": profile.image_size,
                "best_epoch": result.best_epoch,
                "epochs_run": len(result.history),
                "validation": scores,
            }
        )
    )
    return 0


FLAGGED = 3  # exit status: an image flagged (predict) or a folder unlike training (check)
#: The gate's flag codes as the help lists them (a test keeps them equal to quality.CODES;
#: quality itself loads Keras, too slow for --help).
_AGES = "{}-{} years".format(*population.AGES)
FLAG_HELP = (
    "flags of the input-quality gate: too_small, colour, lateral, blank, inverted, "
    "out_of_distribution (the picture); age, body_part (whom it shows: outside the training "
    f"population of children aged {_AGES}, from a DICOM's PatientAge, or StudyDate minus "
    "PatientBirthDate, and BodyPartExamined, or a stated age; unknown: not checked)"
)


def _age(text: str) -> float | None:
    """``--age``: a number of years ≥ 0 (empty: unknown), else an argparse error."""
    from xraylib.population import stated_years

    try:
        return stated_years(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _predict(args: argparse.Namespace) -> int:
    from xraylib import predict, results

    model = results.load_model(args.model)
    threshold = results.saved_threshold(args.model) if args.threshold is None else args.threshold
    gate = predict.load_gate(model, args.model)
    if gate.note:
        print(f"xraylib predict: {gate.note}", file=sys.stderr)
    table, errors = predict.predict_images(
        model,
        args.images,
        threshold,
        gate,
        force=args.force,
        ages=[args.age] * len(args.images),
    )
    for _, message in errors:
        print(f"xraylib predict: {message}", file=sys.stderr)
    for row in table.itertuples():
        for flag in row.flags:
            print(f"xraylib predict: {row.path}: {flag.reason}", file=sys.stderr)
    if args.json:
        records = table.assign(flags=[[f.to_json() for f in found] for found in table["flags"]])
        print(_json(records.to_dict("records"), indent=2))
    else:
        for row in table.itertuples():
            probability = "-" if row.probability != row.probability else f"{row.probability:.4f}"
            codes = ",".join(flag.code for flag in row.flags)
            print(
                f"{row.path}\t{row.prediction}\t{probability}"
                + (f"\tFLAGGED {codes}" * bool(codes))
            )
    return 1 if errors else FLAGGED if any(table["flags"].map(bool)) else 0


def _check(args: argparse.Namespace) -> int:
    from xraylib import data, predict, quality, results

    model = results.load_model(args.model)
    gate = predict.load_gate(model, args.model)
    found = data.scan_images(args.folder, progress=False)
    threshold = results.saved_threshold(args.model)
    table, _ = predict.predict_images(
        model, found.frame.path, threshold, gate, force=True, ages=found.frame.age
    )
    prior = results.saved_info(args.model).get("assumed_prior")
    result = quality.check_folder(table, gate, prior)
    if args.json:
        print(
            _json(
                result.to_json()
                | {"skipped": [{"path": p, "reason": r} for p, r in found.skipped]},
                indent=2,
            )
        )
    else:
        for path, reason in found.skipped:  # e.g. an unreadable file, or a bad age in ages.csv
            print(f"xraylib check: skipped {path}: {reason}", file=sys.stderr)
        print(f"{found.root}: {result.images} images checked, {len(found.skipped)} skipped")
        for code, count in result.counts.items():
            print(f"  {code:<20} {count}")
        if result.pneumonia_rate is not None:
            print(
                f"pneumonia rate of the unflagged images, estimated without labels: "
                f"{result.pneumonia_rate:.2f} (the model assumes {result.assumed_prior:.2f})"
            )
        print(result.verdict)
    return 0 if result.verdict.startswith("looks like") else FLAGGED


def _tune(args: argparse.Namespace) -> int:
    from xraylib import cluster, data, results, train, tuning

    role = "chief" if args.chief else "worker" if args.worker else "single"
    cluster.set_role(role, args.worker, args.oracle)  # before the data: bad roles fail fast
    profile = args.profile
    splits = data.load_splits(profile=profile, image_size=profile.search_image_size, progress=False)
    result = tuning.search(
        splits,
        overwrite=args.overwrite,
        policy=args.policy,
        max_trials=args.trials,
        profile=profile,
    )
    summary = result.to_json()
    if result.best is not None:  # single or chief: train the best configuration again
        train.new_session(profile.seed)
        design = tuning.design_of(result.best, args.policy)
        model = design.build(splits.image_size, name=result.directory.name)
        out = results.model_path(result.directory.name)
        fit = train.fit(model, splits, design.recipe, profile=profile, save_path=out, verbose=2)
        last = fit.history.iloc[-1]
        summary |= {
            "model": str(out),
            "val_loss": round(float(last["val_loss"]), 6),
            "val_auc": round(float(last["val_auc"]), 6),
        }
    print(_json(summary))
    return 0


def _presentation(args: argparse.Namespace) -> int:
    from xraylib import presentation, report

    out = presentation.build(args.out)
    print(f"presentation written to {out}")
    if args.profile.name == "full":
        print(f"README tables refreshed in {report.update_readme()}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from xraylib import bench, results

    result = bench.throughput(
        n_images=args.images, data_dir=args.profile.data_dir, seed=args.profile.seed
    )
    results.save_bench(_json(result, indent=2) + "\n")
    print(_json(result, indent=2) if args.json else bench.format_table(result))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xraylib", description=__doc__.splitlines()[0], epilog=EXIT_STATUS
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, run: Callable[[argparse.Namespace], int], text: str, **extra):
        sub = commands.add_parser(name, help=text, description=text, **extra)
        sub.set_defaults(run=run)
        return sub

    sub = command("scan", _scan, "count usable images per split and label; list skipped files")
    sub.add_argument("dir", type=Path)
    sub.add_argument("--json", action="store_true", help="print one JSON object")

    sub = command("download", _download, "get the data set into data/chest_xray")
    sub.add_argument("--dest", type=Path, default=config.DEFAULT_IMAGES_DIR)
    sub.add_argument("--url", help="archive URL (default: Mendeley Data ChestXRay2017.zip)")
    sub.add_argument("--sha256", help="expected sha256 of the archive")
    sub.add_argument(
        "--from",
        dest="source",
        type=Path,
        help="a local zip or folder to install instead of downloading",
    )

    sub = command("synthetic", _synthetic, "write a phantom data set in the real layout")
    sub.add_argument("dir", type=Path)
    sub.add_argument("--per-class", type=int, default=40)
    sub.add_argument("--seed", type=int, default=0)

    sub = command(
        "train",
        _train,
        "train a model on train, report validation metrics (last line: JSON), save it",
    )
    sub.add_argument("--data", type=Path, help="data folder (default: XRAY_DATA_DIR)")
    sub.add_argument("--model", choices=["cnn", "dense"], default="cnn")
    sub.add_argument("--epochs", type=int)
    sub.add_argument("--image-size", type=int)
    sub.add_argument("--seed", type=int)
    sub.add_argument("--out", type=Path, help="where to save the .keras model")

    sub = command(
        "predict",
        _predict,
        "predict PNEUMONIA probabilities for image files (JPEG, PNG, DICOM); an image the "
        "input-quality gate flags is 'not assessed' unless --force. Exit status: 0 all "
        "answered, 1 a file unreadable, 2 a user error, 3 an image flagged",
        epilog=FLAG_HELP,
    )
    sub.add_argument("images", nargs="+")
    sub.add_argument("--model", type=Path, help="a .keras model (default data/models/final)")
    sub.add_argument(
        "--threshold",
        type=float,
        help="decision threshold (default: the one saved with the model, or 0.5)",
    )
    sub.add_argument(
        "--json",
        action="store_true",
        help="print JSON: per image its flags, the age checked and what was not checked, and why",
    )
    sub.add_argument(
        "--force", action="store_true", help="answer flagged images too (flags still listed)"
    )
    sub.add_argument(
        "--age",
        type=_age,
        metavar="YEARS",
        help="the patient's age in years, for every image given that carries none of its own "
        f"(PNG, JPEG; a DICOM's own age tag wins); outside {_AGES} flags 'age'",
    )

    sub = command(
        "check",
        _check,
        "check a folder of images against the training images: flags per check, the "
        "pneumonia rate estimated without labels, a verdict. Exit status: 0 looks like the "
        "training images, 2 a user error, 3 differs or cannot tell. Ages of PNG and JPEG "
        "images: FOLDER/ages.csv, columns file,age (years; an empty cell means unknown)",
        epilog=FLAG_HELP,
    )
    sub.add_argument("folder", type=Path)
    sub.add_argument("--model", type=Path, help="a .keras model (default data/models/final)")
    sub.add_argument("--json", action="store_true", help="print one JSON object")

    sub = command(
        "tune",
        _tune,
        "keras-tuner search, alone or as the chief or a worker of a distributed search",
    )
    role = sub.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true", help="hand out trials, keep the results")
    role.add_argument("--worker", metavar="ID", help="run trials for the chief")
    sub.add_argument("--oracle", metavar="HOST:PORT", help="the chief's address")
    sub.add_argument("--trials", type=int, help="maximum trials (default: the profile's)")
    sub.add_argument(
        "--policy",
        default="acquisition_borders",
        help="augmentation policy of every trial (default acquisition_borders)",
    )
    sub.add_argument("--overwrite", action="store_true", help="start the search afresh")

    sub = command(
        "presentation",
        _presentation,
        "rebuild presentation.pdf (and the README tables) from the results files",
    )
    sub.add_argument("--out", type=Path)

    sub = command("bench", _bench, "training and prediction throughput, side by side")
    sub.add_argument("--json", action="store_true")
    sub.add_argument("--images", type=int, default=512, help="images per measurement")

    sub = command("notebooks", _notebooks, "execute the notebook series in place, timing each")
    sub.add_argument("names", nargs="*", help="parts of names to run (default: all), e.g. 01 02")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit status."""
    from xraylib.errors import DownloadError, XrayError

    args = _parser().parse_args(argv)
    try:
        args.profile = config.profile()
        return args.run(args)
    except XrayError as err:
        print(f"xraylib {args.command}: {err}", file=sys.stderr)
        return 1 if isinstance(err, DownloadError) else 2


if __name__ == "__main__":
    sys.exit(main())
