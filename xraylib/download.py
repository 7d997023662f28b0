"""Fetch, verify and safely extract the public chest X-ray archive.

The images are the pediatric chest X-rays of Kermany, Zhang and Goldbaum (2018, CC BY 4.0),
published on Mendeley Data as ``ChestXRay2017.zip``. :func:`fetch_dataset` does the whole job:

1. stream the archive to ``data/downloads/ChestXRay2017.zip.part`` with a progress bar,
   resuming a partial file with an HTTP ``Range`` request;
2. check its size (and sha256 when given) before renaming it to its final name;
3. extract it into a temporary sibling folder, refusing entries that would land outside it
   (zip-slip), and move ``train/``, ``test/`` (and ``val/``) into ``data/chest_xray``.

The Mendeley layout (``chest_xray/{train,test}``), the Kaggle copy
(``chest_xray/chest_xray/{train,val,test}`` plus ``__MACOSX/``) and a folder the user already
has (``--from PATH``) all end up in the same normalised layout. Every failure a user can meet
raises :class:`~xraylib.errors.DownloadError` with a one-line message that says what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath, PureWindowsPath
from urllib.error import HTTPError, URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

from tqdm import tqdm

from xraylib import config
from xraylib.data import IMAGE_SUFFIXES, SPLITS, is_junk, split_root
from xraylib.errors import DownloadError

MENDELEY_URL = (
    "https://data.mendeley.com/public-files/datasets/rscbjbr9sj/files/"
    "f12eaf6d-6023-432f-acc9-80c9d7393433/file_downloaded"
)
MENDELEY_SIZE = 1_235_512_464
ARCHIVE_NAME = "ChestXRay2017.zip"
CHUNK_BYTES = 1 << 20
FROM_HINT = "`python -m xraylib download --from PATH`"

_NETWORK_ERRORS = (URLError, TimeoutError, ConnectionError, http.client.HTTPException)


def fetch(
    url: str,
    dest: Path,
    expected_size: int | None = None,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 30,
) -> Path:
    """Download ``url`` to ``dest``, resuming an earlier partial download.

    The bytes go to ``dest`` + ``.part`` first; only once the size (``expected_size``) and the
    hash (``sha256``), when given, match is it renamed to ``dest``. A ``dest`` that already
    matches is returned without touching the network. A file that does not match is deleted,
    so that the next call starts afresh.
    """
    dest = Path(dest)
    if dest.is_file() and _mismatch(dest, expected_size, sha256) is None:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_suffix(dest.suffix + ".part")
    if _size(part) != expected_size:  # always true when the size is unknown
        _stream(url, part, progress, timeout)
    problem = _mismatch(part, expected_size, sha256)
    if problem is not None:
        part.unlink()
        raise DownloadError(
            f"{url} gave {problem}; deleted {part}: run the command again to download it afresh,"
            f" or download {dest.name} by hand and run {FROM_HINT}"
        )
    os.replace(part, dest)
    return dest


def extract(archive: Path, dest: Path, progress: bool = True) -> Path:
    """Extract the zip ``archive`` so that ``dest`` holds ``train/``, ``test/`` (and ``val/``).

    The folder holding ``train`` and ``test`` is found at any depth (any case); the other
    entries, ``__MACOSX/`` and ``._*`` files are left out. Every entry is checked before
    anything is written: one that would land outside the destination stops the extraction.
    """
    archive, dest = Path(archive), Path(dest)
    try:
        with zipfile.ZipFile(archive) as zf:
            entries = _safe_entries(zf, archive)
            files = [(info, PurePosixPath(info.filename)) for info in entries if not info.is_dir()]
            root = split_root(path for _, path in files)
            if root is None:
                top = sorted({path.parts[0] for _, path in files})
                raise DownloadError(
                    f"{archive} holds no folder with both train/ and test/ (top level:"
                    f" {', '.join(top[:8]) or 'nothing'}): is it the chest X-ray archive"
                    f" {ARCHIVE_NAME}?"
                )
            plan = [(info, rel) for info, path in files if (rel := _in_split(path, root))]
            with _staging(dest) as staging:
                bar = tqdm(plan, desc=f"extract {archive.name}", unit="file", disable=not progress)
                for info, rel in bar:
                    target = staging.joinpath(*rel.parts)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with zf.open(info) as source, target.open("wb") as out:
                        shutil.copyfileobj(source, out)
    except zipfile.BadZipFile as err:
        raise DownloadError(
            f"{archive} is not a readable zip archive ({err}): delete it and download it again"
        ) from err
    return dest


def install_from(source: Path, dest: Path) -> Path:
    """Install images the user already has (``--from``): a zip archive or a folder.

    A folder is searched for the folder holding ``train`` and ``test``, as in :func:`extract`,
    and its splits are copied into ``dest``.
    """
    source, dest = Path(source).expanduser(), Path(dest)
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise DownloadError(
                f"{source} is not a zip archive: pass {ARCHIVE_NAME} or a folder that holds"
                " train/ and test/"
            )
        return extract(source, dest)
    if not source.is_dir():
        raise DownloadError(
            f"{source} does not exist: pass the path of {ARCHIVE_NAME} or of a folder that"
            " holds train/ and test/"
        )
    files = (PurePosixPath(p.relative_to(source).as_posix()) for p in source.rglob("*"))
    root = split_root(path for path in files if not is_junk(path))
    if root is None:
        raise DownloadError(
            f"{source} holds no folder with both train/ and test/ subfolders: pass the folder"
            f" of the chest X-ray images or {ARCHIVE_NAME}"
        )
    root_dir = source / root
    if dest.exists() and root_dir.resolve() == dest.resolve():
        return dest
    with _staging(dest) as staging:
        for split in root_dir.iterdir():
            if split.is_dir() and split.name.lower() in SPLITS:
                shutil.copytree(
                    split,
                    staging / split.name.lower(),
                    ignore=lambda _, names: [n for n in names if is_junk(PurePosixPath(n))],
                )
    return dest


def fetch_dataset(
    dest: Path | None = None,
    url: str = MENDELEY_URL,
    sha256: str | None = None,
    expected_size: int | None = None,
    source: Path | None = None,
    keep_archive: bool = True,
) -> Path:
    """Get the chest X-ray images into ``dest`` (default ``data/chest_xray``) and return it.

    With ``source``, install that local zip or folder instead (see :func:`install_from`).
    Otherwise do nothing when ``dest`` already holds images in ``train/`` and ``test/``, or
    download the archive to ``dest.parent / "downloads"`` and extract it. ``expected_size``
    defaults to :data:`MENDELEY_SIZE` for :data:`MENDELEY_URL` and is unchecked for another
    URL; ``keep_archive=False`` deletes the archive once extracted.

    Example::

        download.fetch_dataset()
        download.fetch_dataset(source=Path("~/Downloads/ChestXRay2017.zip"))
    """
    dest = Path(dest) if dest is not None else config.DEFAULT_IMAGES_DIR
    if source is not None:
        return install_from(source, dest)
    if _has_images(dest):
        print(f"already present: {dest}")
        return dest
    if expected_size is None and url == MENDELEY_URL:
        expected_size = MENDELEY_SIZE
    archive = fetch(url, dest.parent / "downloads" / ARCHIVE_NAME, expected_size, sha256)
    extract(archive, dest)
    if not keep_archive:
        archive.unlink()
    return dest


def _stream(url: str, part: Path, progress: bool, timeout: float) -> None:
    """Append the rest of ``url`` to ``part`` (or write it from the start if the server
    ignores the ``Range`` request)."""
    offset = _size(part)
    headers = {"User-Agent": "xraylib", **({"Range": f"bytes={offset}-"} if offset else {})}
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as err:
        if err.code == 416 and offset:  # nothing left to send: the part file is complete
            return
        raise DownloadError(
            f"{url} answered HTTP {err.code} {err.reason}: try again later, or download"
            f" {part.stem} by hand and run {FROM_HINT}"
        ) from err
    except _NETWORK_ERRORS as err:
        raise DownloadError(
            f"cannot reach {urlparse(url).hostname} ({_reason(err)}): check your connection,"
            f" or download {part.stem} from {url} by hand and run {FROM_HINT}"
        ) from err
    with response:
        if response.status != 206:  # a full answer: start again from zero
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        done = offset
        try:
            with (
                part.open("ab" if offset else "wb") as out,
                tqdm(
                    total=total,
                    initial=offset,
                    desc=part.stem,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    disable=not progress,
                ) as bar,
            ):
                while chunk := response.read(CHUNK_BYTES):
                    out.write(chunk)
                    bar.update(len(chunk))
                    done += len(chunk)
        except _NETWORK_ERRORS as err:
            raise _interrupted(url, part, done, total, _reason(err)) from err
    if total is not None and done < total:
        raise _interrupted(url, part, done, total, "connection closed early")


def _interrupted(url: str, part: Path, done: int, total: int | None, reason: str) -> DownloadError:
    of_total = f" of {total:,}" if total is not None else ""
    return DownloadError(
        f"download of {url} interrupted after {done:,}{of_total} bytes ({reason});"
        f" {part} is kept: run the command again to resume, or download {part.stem} by hand"
        f" and run {FROM_HINT}"
    )


def _reason(err: BaseException) -> str:
    return str(getattr(err, "reason", None) or err or type(err).__name__)


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _mismatch(path: Path, expected_size: int | None, sha256: str | None) -> str | None:
    """Why ``path`` is not the expected file, or ``None`` when it is."""
    size = _size(path)
    if expected_size is not None and size != expected_size:
        return f"{size:,} bytes instead of {expected_size:,}"
    if sha256 is not None:
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        if digest != sha256.strip().lower():
            return f"sha256 {digest} instead of {sha256}"
    return None


def _safe_entries(zf: zipfile.ZipFile, archive: Path) -> list[zipfile.ZipInfo]:
    """The entries worth extracting, after checking that none escapes the destination."""
    for info in zf.infolist():
        name = posixpath.normpath(info.filename.replace("\\", "/"))
        if name.startswith("/") or name.split("/")[0] == ".." or PureWindowsPath(name).drive:
            raise DownloadError(
                f"{archive} holds the entry {info.filename!r}, which would land outside the"
                " destination (zip-slip): nothing was extracted; get the archive from a"
                " trusted source"
            )
    return [info for info in zf.infolist() if not is_junk(PurePosixPath(info.filename))]


def _in_split(path: PurePosixPath, root: PurePosixPath) -> PurePosixPath | None:
    """``path`` relative to ``root`` with its split folder in lower case, or ``None`` when it
    is not inside a split."""
    if not path.is_relative_to(root):
        return None
    parts = path.relative_to(root).parts
    if len(parts) < 2 or parts[0].lower() not in SPLITS:
        return None
    return PurePosixPath(parts[0].lower(), *parts[1:])


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """A temporary sibling of ``dest`` to fill; on success its splits replace those in ``dest``,
    on failure ``dest`` is left as it was."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        yield staging
        dest.mkdir(exist_ok=True)
        for split in staging.iterdir():
            target = dest / split.name
            if target.exists():
                shutil.rmtree(target)
            os.replace(split, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _has_images(dest: Path) -> bool:
    """Whether ``dest/train`` and ``dest/test`` both hold at least one image."""
    return all(
        any(path.suffix.lower() in IMAGE_SUFFIXES for path in (dest / split).rglob("*"))
        for split in ("train", "test")
    )
