"""Download, resume, verification and safe extraction, against a local HTTP server only."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from xraylib.download import extract, fetch, fetch_dataset, install_from
from xraylib.errors import DownloadError

MENDELEY_FILES = [
    f"chest_xray/{split}/{label}/{name}.jpeg"
    for split in ("train", "test")
    for label in ("NORMAL", "PNEUMONIA")
    for name in ("a", "b")
]
KAGGLE_FILES = [
    f"chest_xray/chest_xray/{split}/{label}/a.jpeg"
    for split in ("train", "val", "test")
    for label in ("NORMAL", "PNEUMONIA")
] + ["__MACOSX/chest_xray/._a.jpeg", "chest_xray/chest_xray/train/NORMAL/._a.jpeg"]


def jpeg_bytes(shade: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), shade).save(buffer, format="JPEG")
    return buffer.getvalue()


def make_zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for shade, name in enumerate(names):
            zf.writestr(name, jpeg_bytes(shade))
    return path


@dataclass
class Served:
    """What the test server sends, and what it saw."""

    payload: bytes = b""
    cut_after: int | None = None  # close the first answer after this many bytes
    honour_range: bool = True
    ranges: list[str | None] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def server():
    served = Served()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if not served.url.endswith(self.path):
                self.send_error(404)
                return
            header = self.headers.get("Range")
            served.ranges.append(header)
            start = int(header.removeprefix("bytes=").rstrip("-")) if header else 0
            if header and served.honour_range and start >= len(served.payload):
                self.send_response(416)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if not (header and served.honour_range):
                start = 0
            body = served.payload[start:]
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(served.payload) - 1}/*")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if served.cut_after is not None:
                body, served.cut_after = body[: served.cut_after], None
                self.close_connection = True
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{httpd.server_address[1]}/ChestXRay2017.zip"
    yield served
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def mendeley_zip(tmp_path) -> Path:
    return make_zip(tmp_path / "mendeley.zip", MENDELEY_FILES)


def test_download_fetches_and_extracts_into_train_and_test(server, mendeley_zip, tmp_path):
    server.payload = mendeley_zip.read_bytes()
    dest = tmp_path / "data" / "chest_xray"

    assert fetch_dataset(dest, url=server.url) == dest

    assert sorted(p.name for p in dest.iterdir()) == ["test", "train"]
    assert sorted(p.name for p in (dest / "train").iterdir()) == ["NORMAL", "PNEUMONIA"]
    assert (dest / "train" / "NORMAL" / "a.jpeg").read_bytes()[:2] == b"\xff\xd8"
    archive = tmp_path / "data" / "downloads" / "ChestXRay2017.zip"
    assert archive.read_bytes() == server.payload
    assert not archive.with_suffix(".zip.part").exists()
    assert [p.name for p in dest.parent.iterdir() if p.name.startswith(".")] == []


def test_download_leaves_images_already_present_alone(server, mendeley_zip, tmp_path, capsys):
    dest = install_from(mendeley_zip, tmp_path / "chest_xray")

    assert fetch_dataset(dest, url=server.url) == dest
    assert server.ranges == []
    assert "already present" in capsys.readouterr().out


def test_interrupted_download_resumes_with_range(server, mendeley_zip, tmp_path):
    server.payload = mendeley_zip.read_bytes()
    server.cut_after = len(server.payload) // 2
    dest = tmp_path / "ChestXRay2017.zip"
    digest = hashlib.sha256(server.payload).hexdigest()

    with pytest.raises(DownloadError, match="resume"):
        fetch(server.url, dest, progress=False, timeout=5)
    part = tmp_path / "ChestXRay2017.zip.part"
    assert part.stat().st_size == len(server.payload) // 2
    assert not dest.exists()

    fetch(server.url, dest, len(server.payload), digest, progress=False, timeout=5)

    assert server.ranges == [None, f"bytes={len(server.payload) // 2}-"]
    assert dest.read_bytes() == server.payload
    assert not part.exists()


def test_server_ignoring_range_restarts_from_zero(server, tmp_path):
    server.payload = bytes(range(256)) * 8
    server.honour_range = False
    (tmp_path / "file.zip.part").write_bytes(b"stale bytes")

    fetch(server.url, tmp_path / "file.zip", progress=False, timeout=5)

    assert (tmp_path / "file.zip").read_bytes() == server.payload


def test_complete_part_file_answered_416_is_kept(server, tmp_path):
    server.payload = b"complete archive"
    (tmp_path / "file.zip.part").write_bytes(server.payload)

    fetch(server.url, tmp_path / "file.zip", progress=False, timeout=5)

    assert server.ranges == [f"bytes={len(server.payload)}-"]
    assert (tmp_path / "file.zip").read_bytes() == server.payload


def test_existing_file_with_right_size_is_not_downloaded_again(server, tmp_path):
    dest = tmp_path / "file.zip"
    dest.write_bytes(b"12345")

    assert fetch(server.url, dest, expected_size=5, progress=False) == dest
    assert server.ranges == []


def test_wrong_size_raises_and_deletes_the_part_file(server, tmp_path):
    server.payload = b"x" * 100
    dest = tmp_path / "file.zip"

    with pytest.raises(DownloadError, match="deleted") as caught:
        fetch(server.url, dest, expected_size=99, progress=False, timeout=5)

    assert "\n" not in str(caught.value)
    assert not dest.exists()
    assert not (tmp_path / "file.zip.part").exists()


def test_wrong_sha256_raises_and_deletes_the_part_file(server, tmp_path):
    server.payload = b"x" * 100
    dest = tmp_path / "file.zip"

    with pytest.raises(DownloadError, match="sha256"):
        fetch(server.url, dest, sha256="0" * 64, progress=False, timeout=5)

    assert not dest.exists()
    assert not (tmp_path / "file.zip.part").exists()


def test_unreachable_url_says_to_use_from(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(DownloadError, match="--from") as caught:
        fetch_dataset(tmp_path / "chest_xray", url=f"http://127.0.0.1:{port}/x.zip")

    assert str(caught.value).startswith("cannot reach 127.0.0.1")
    assert "\n" not in str(caught.value)


def test_http_error_is_a_download_error(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server.url.replace("ChestXRay2017", "missing"), tmp_path / "f.zip", progress=False)


def test_zip_slip_entry_is_refused_before_writing_anything(tmp_path):
    archive = make_zip(tmp_path / "evil.zip", [*MENDELEY_FILES, "../evil.txt"])
    dest = tmp_path / "out" / "chest_xray"

    with pytest.raises(DownloadError, match="zip-slip"):
        extract(archive, dest, progress=False)

    assert not (tmp_path.parent / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()
    assert not dest.exists()


@pytest.mark.parametrize("name", ["/etc/evil.txt", "chest_xray/../../evil.txt", "C:/evil.txt"])
def test_absolute_and_escaping_entries_are_refused(tmp_path, name):
    archive = make_zip(tmp_path / "evil.zip", [*MENDELEY_FILES, name])

    with pytest.raises(DownloadError, match="outside the destination"):
        extract(archive, tmp_path / "chest_xray", progress=False)


def test_kaggle_layout_is_normalised_without_macos_junk(tmp_path):
    archive = make_zip(tmp_path / "kaggle.zip", KAGGLE_FILES)
    dest = tmp_path / "chest_xray"

    extract(archive, dest, progress=False)

    assert sorted(p.name for p in dest.iterdir()) == ["test", "train", "val"]
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == [
        f"{s}/{label}/a.jpeg" for s in ("test", "train", "val") for label in ("NORMAL", "PNEUMONIA")
    ]


def test_windows_and_macos_junk_is_left_out_of_archives_and_folders(tmp_path):
    junk = [
        "chest_xray/train/NORMAL/.DS_Store",
        "chest_xray/test/PNEUMONIA/Thumbs.db",
        "chest_xray/train/.ipynb_checkpoints/a.jpeg",
    ]
    dest = extract(
        make_zip(tmp_path / "junk.zip", MENDELEY_FILES + junk), tmp_path / "out", progress=False
    )
    copied = install_from(dest, tmp_path / "copy")

    for root in (dest, copied):
        names = {p.name for p in root.rglob("*")}
        assert not names & {".DS_Store", "Thumbs.db", ".ipynb_checkpoints"}
        assert (root / "train" / "NORMAL" / "a.jpeg").is_file()


def test_top_level_splits_in_any_case_are_found(tmp_path):
    names = ["TRAIN/NORMAL/a.jpeg", "Test/PNEUMONIA/a.jpeg"]
    dest = extract(make_zip(tmp_path / "plain.zip", names), tmp_path / "out", progress=False)

    assert (dest / "train" / "NORMAL" / "a.jpeg").is_file()
    assert (dest / "test" / "PNEUMONIA" / "a.jpeg").is_file()


def test_archive_without_train_and_test_says_what_it_holds(tmp_path):
    archive = make_zip(tmp_path / "other.zip", ["photos/cat.jpeg"])

    with pytest.raises(DownloadError, match="photos"):
        extract(archive, tmp_path / "chest_xray", progress=False)


def test_install_from_local_zip(mendeley_zip, tmp_path):
    dest = fetch_dataset(tmp_path / "chest_xray", source=mendeley_zip)

    assert (dest / "test" / "PNEUMONIA" / "b.jpeg").is_file()


def test_install_from_local_folder(tmp_path):
    extract(make_zip(tmp_path / "k.zip", KAGGLE_FILES), tmp_path / "mine" / "deep", progress=False)
    (tmp_path / "mine" / "deep" / "train" / "NORMAL" / "._a.jpeg").write_bytes(b"junk")

    dest = fetch_dataset(tmp_path / "chest_xray", source=tmp_path / "mine")

    assert sorted(p.name for p in dest.iterdir()) == ["test", "train", "val"]
    assert sorted(p.name for p in (dest / "train" / "NORMAL").iterdir()) == ["a.jpeg"]


@pytest.mark.parametrize("name", ["missing.zip", "missing_folder"])
def test_install_from_missing_source_raises(tmp_path, name):
    with pytest.raises(DownloadError, match="does not exist"):
        install_from(tmp_path / name, tmp_path / "chest_xray")
