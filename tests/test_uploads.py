"""api/uploads.py: streamed multipart bodies and URL downloads, driven with asyncio.run and hand-built bodies.

URL tests use a real HTTP server on 127.0.0.1 in a thread, or httpx.MockTransport with an injected resolver; no test
touches the network.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import http.server
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from api.uploads import (
    NO_FILE_MESSAGE,
    Received,
    TooManyFiles,
    UploadError,
    UploadRejected,
    UploadTooLarge,
    fetch_urls,
    receive_multipart,
    safe_filename,
)

BOUNDARY = "----reelforgeBoundary7MA4YWxkTrZu0gW"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
CHUNK = 64 * 1024
MB = 1024 * 1024


# --- multipart helpers ------------------------------------------------------------------------------------------------


def part(name: str, data: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += '; filename="{}"'.format(filename.replace("\\", "\\\\").replace('"', '\\"'))
    head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
    if filename is not None:
        head += "Content-Type: application/octet-stream\r\n"
    return head.encode("utf-8") + b"\r\n" + data + b"\r\n"


def form(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def payload(size: int, seed: int) -> bytes:
    """Deterministic bytes that are not all alike, so a misplaced chunk changes the hash."""
    block = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return block[:size]


async def feed(body: bytes, chunk: int = CHUNK) -> AsyncIterator[bytes]:
    for start in range(0, len(body), chunk):
        await asyncio.sleep(0)
        yield body[start : start + chunk]


def receive(body: bytes, dest: Path, *, chunk: int = CHUNK, limit: int = 10 * MB, **kw: object) -> list[Received]:
    return asyncio.run(receive_multipart(feed(body, chunk), CONTENT_TYPE, dest, max_file_bytes=limit, **kw))  # type: ignore[arg-type]


def leftovers(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir()) if dest.exists() else []


# --- multipart --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [CHUNK, 7])  # 7-byte chunks split boundaries and headers across writes
def test_files_and_file_parts_are_stored_and_the_rest_ignored(tmp_path: Path, chunk: int) -> None:
    a, b, c = payload(300_000, 1), payload(5, 2), payload(70_001, 3)
    body = form(
        part("title", b"my holiday"),
        part("files", a, "a.mp4"),
        part("avatar", payload(1000, 9), "avatar.png"),
        part("files", b, "b.wav"),
        part("file", c, "c.jpg"),
    )
    dest = tmp_path / "new" / "dir"  # created on demand
    got = receive(body, dest, chunk=chunk)
    assert [(r.field, r.filename, r.size, r.source) for r in got] == [
        ("files", "a.mp4", len(a), "upload"),
        ("files", "b.wav", len(b), "upload"),
        ("file", "c.jpg", len(c), "upload"),
    ]
    for r, data in zip(got, (a, b, c), strict=True):
        assert r.path.parent == dest and r.path.name.startswith(".part-")
        assert r.path.read_bytes() == data
        assert r.sha256 == hashlib.sha256(data).hexdigest()
    assert len(leftovers(dest)) == 3  # the avatar part was discarded, not stored


def test_a_file_exactly_at_the_limit_is_accepted(tmp_path: Path) -> None:
    data = payload(MB, 4)
    (got,) = receive(form(part("files", data, "x.bin")), tmp_path, limit=MB)
    assert got.size == MB and got.path.read_bytes() == data


@dataclass
class Counter:
    consumed: int = 0


async def two_gigabytes(prefix: bytes, counter: Counter) -> AsyncIterator[bytes]:
    """An earlier complete file, then the headers of a 2 GB part, then zeros forever; counts what was pulled."""
    counter.consumed += len(prefix)
    yield prefix
    block = bytes(CHUNK)
    for _ in range(2 * 1024 * MB // CHUNK):
        counter.consumed += len(block)
        yield block


def test_a_part_over_the_limit_fails_while_streaming_and_removes_everything(tmp_path: Path) -> None:
    earlier = part("files", payload(200_000, 5), "first.mp4")
    big_headers = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="files"; filename="huge.mov"\r\n\r\n'.encode()
    prefix = earlier + big_headers
    counter = Counter()
    with pytest.raises(UploadTooLarge) as info:
        asyncio.run(receive_multipart(two_gigabytes(prefix, counter), CONTENT_TYPE, tmp_path, max_file_bytes=MB))
    assert info.value.filename == "huge.mov" and info.value.limit_bytes == MB
    assert "huge.mov" in str(info.value)
    assert counter.consumed - len(prefix) < MB + 2 * CHUNK
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(form(part("files", b"abc", "a.mp4")).replace(BOUNDARY.encode(), b"other"), id="wrong-boundary"),
        pytest.param(form(part("files", payload(100_000, 6), "a.mp4"))[:60_000], id="truncated-in-data"),
        pytest.param(form(part("files", b"abc", "a.mp4"))[:-4], id="truncated-closing-boundary"),
        pytest.param(b"this is not multipart at all", id="garbage"),
        pytest.param(b"", id="empty"),
    ],
)
def test_malformed_bodies_are_rejected_without_leftovers(tmp_path: Path, body: bytes) -> None:
    with pytest.raises(UploadRejected):
        receive(body, tmp_path)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        'multipart/form-data; boundary="bad\x01boundary"',
        "multipart/form-data; boundary=" + "x" * 71,
        "application/json",
        "",
    ],
)
def test_a_missing_or_invalid_boundary_is_rejected(tmp_path: Path, content_type: str) -> None:
    body = form(part("files", b"abc", "a.mp4"))
    with pytest.raises(UploadRejected):
        asyncio.run(receive_multipart(feed(body), content_type, tmp_path, max_file_bytes=MB))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "parts",
    [
        pytest.param((part("title", b"no files here"),), id="text-only"),
        pytest.param((part("other", b"bytes", "x.mp4"),), id="unrelated-file-field"),
        pytest.param((part("files", b"", ""),), id="empty-file-input"),  # what a browser sends when nothing was picked
        pytest.param((), id="no-parts"),
    ],
)
def test_no_file_parts_is_rejected(tmp_path: Path, parts: tuple[bytes, ...]) -> None:
    with pytest.raises(UploadRejected) as info:
        receive(form(*parts), tmp_path)
    assert str(info.value) == NO_FILE_MESSAGE
    assert leftovers(tmp_path) == []


def test_too_many_files_is_rejected_and_cleaned_up(tmp_path: Path) -> None:
    body = form(*(part("files", b"x" * 10, f"{i}.png") for i in range(4)))
    with pytest.raises(TooManyFiles, match="too many files") as err:
        receive(body, tmp_path, max_files=3)
    assert (err.value.what, err.value.count, err.value.max_files) == ("files", 4, 3)
    assert isinstance(err.value, UploadRejected) and leftovers(tmp_path) == []
    assert len(receive(body, tmp_path, max_files=4)) == 4


def test_too_many_urls_is_refused_before_any_download(tmp_path: Path) -> None:
    recorder = Recorder()
    with pytest.raises(TooManyFiles) as err:
        fetch(["https://cdn.example/x.mp4"] * 4, tmp_path, resolve=public, max_files=3,
              transport=recorder.transport())
    assert (err.value.what, err.value.count, err.value.max_files) == ("URLs", 4, 3)
    assert recorder.requests == [] and leftovers(tmp_path) == []


class ClientGone(Exception):
    pass


def test_the_client_going_away_mid_stream_cleans_up_and_propagates(tmp_path: Path) -> None:
    body = form(part("files", payload(100_000, 7), "a.mp4"), part("files", payload(300_000, 8), "b.mp4"))

    async def disconnecting() -> AsyncIterator[bytes]:
        async for chunk in feed(body[:250_000]):
            yield chunk
        raise ClientGone

    with pytest.raises(ClientGone):
        asyncio.run(receive_multipart(disconnecting(), CONTENT_TYPE, tmp_path, max_file_bytes=MB))
    assert leftovers(tmp_path) == []


def test_cancellation_cleans_up_and_propagates(tmp_path: Path) -> None:
    async def stalling() -> AsyncIterator[bytes]:
        yield form(part("files", b"complete", "a.mp4"))[:-10] + b"\r\n"  # first file written, body still open
        await asyncio.sleep(3600)
        yield b""

    async def scenario() -> None:
        task = asyncio.create_task(receive_multipart(stalling(), CONTENT_TYPE, tmp_path, max_file_bytes=MB))
        while not leftovers(tmp_path):
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert leftovers(tmp_path) == []


HOSTILE_NAMES = [
    ("../../etc/passwd", "passwd"),
    ("C:\\evil.exe", "evil.exe"),
    ("\\\\server\\share\\x.mp4", "x.mp4"),
    ("\x00name", "name"),
    ("a\x1b[31mb\x7f.mp4", "a[31mb.mp4"),
    ("clip\u202egpj.exe", "clipgpj.exe"),  # right-to-left override would disguise the extension
    ("ｅｖｉｌ／..／ok.mp4", "ok.mp4"),  # fullwidth slash folds to "/" and is split off
    (".htaccess", "htaccess"),
    ("..", "upload"),
    ("dir/", "upload"),
    ("", "upload"),
    ("   ", "upload"),
    ("résumé 2024.mp4", "résumé 2024.mp4"),
    ("a" * 300 + ".mp4", "a" * 196 + ".mp4"),
    ("b" * 300, "b" * 200),
]


@pytest.mark.parametrize(("raw", "expected"), HOSTILE_NAMES)
def test_safe_filename(raw: str, expected: str) -> None:
    assert safe_filename(raw) == expected


def test_hostile_multipart_filenames_are_sanitized_and_never_used_as_paths(tmp_path: Path) -> None:
    dest = tmp_path / "uploads"
    body = form(*(part("files", f"content {i}".encode(), raw) for i, (raw, _) in enumerate(HOSTILE_NAMES)))
    got = receive(body, dest)
    assert [r.filename for r in got] == [expected for _, expected in HOSTILE_NAMES]
    for r in got:
        assert r.path.resolve().parent == dest.resolve()
        assert len(r.filename) <= 200 and "/" not in r.filename and "\\" not in r.filename
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == sorted(r.path.name for r in got)


# --- URL downloads: a real server on 127.0.0.1 ------------------------------------------------------------------------

CLIP = payload(300_000, 10)


@dataclass
class Server:
    base: str
    port: int
    seen: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    release_slow: threading.Event = field(default_factory=threading.Event)


def make_handler(server: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {"Content-Length": str(len(body))}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            server.seen.append((self.path, self.headers.get("Host", "")))
            try:
                self.route()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client hung up on purpose (over-limit downloads)

        def route(self) -> None:
            path = self.path
            if path == "/media/clip.mp4":
                self.send(200, CLIP)
            elif path == "/named":
                disposition = "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%20final.mp4"
                self.send(200, CLIP, {"Content-Length": str(len(CLIP)), "Content-Disposition": disposition})
            elif path == "/redirect":
                self.send(302, headers={"Location": "/media/clip.mp4", "Content-Length": "0"})
            elif path == "/loop":
                self.send(302, headers={"Location": "/loop", "Content-Length": "0"})
            elif path == "/huge":
                self.send(200, b"x" * 1000, {"Content-Length": str(10**12)})
            elif path == "/endless":  # no Content-Length: HTTP/1.0, the body ends when the connection closes
                self.send(200, headers={"Content-Type": "video/mp4"})
                for _ in range(64):
                    self.wfile.write(bytes(CHUNK))
            elif path == "/slow":
                server.release_slow.wait(10)
                self.send(200, b"late")
            else:
                self.send(404, b"not found")

    return Handler


@contextlib.contextmanager
def serve(tmp_path: Path | None = None) -> Iterator[Server]:
    """An HTTP server on 127.0.0.1, or HTTPS with a throwaway certificate for tls.test when tmp_path is given."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    httpd.daemon_threads = True
    httpd.block_on_close = False
    port = httpd.server_address[1]
    scheme = "http" if tmp_path is None else "https"
    server = Server(base=f"{scheme}://127.0.0.1:{port}", port=port)
    httpd.RequestHandlerClass = make_handler(server)
    if tmp_path is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release_slow.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def server() -> Iterator[Server]:
    with serve() as running:
        yield running


def fetch(urls: list[str], dest: Path, **kw: object) -> list[Received]:
    options: dict[str, object] = {"max_file_bytes": 10 * MB, "timeout_s": 5.0, "allow_private": False} | kw
    return asyncio.run(fetch_urls(urls, dest, **options))  # type: ignore[arg-type]


def test_fetch_downloads_when_private_addresses_are_allowed(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/media/clip.mp4"
    (got,) = fetch([url], tmp_path, allow_private=True)
    assert (got.field, got.filename, got.size, got.source) == ("url", "clip.mp4", len(CLIP), url)
    assert got.sha256 == hashlib.sha256(CLIP).hexdigest() and got.path.read_bytes() == CLIP
    assert got.path.parent == tmp_path and leftovers(tmp_path) == [got.path.name]


def test_fetch_follows_redirects_and_names_the_file_after_the_final_url(server: Server, tmp_path: Path) -> None:
    url = f"{server.base}/redirect"
    (got,) = fetch([url], tmp_path, allow_private=True)
    assert (got.filename, got.source, got.size) == ("clip.mp4", url, len(CLIP))
    assert [path for path, _ in server.seen] == ["/redirect", "/media/clip.mp4"]


def test_fetch_prefers_the_content_disposition_name(server: Server, tmp_path: Path) -> None:
    (got,) = fetch([f"{server.base}/named"], tmp_path, allow_private=True)
    assert got.filename == "résumé final.mp4"


def test_fetch_connects_to_the_checked_address_and_keeps_the_host_name(server: Server, tmp_path: Path) -> None:
    # 127.0.0.2 refuses (nothing listens there), so the next checked address is tried.
    resolve = {"media.test": ["127.0.0.2", "127.0.0.1"]}.__getitem__
    (got,) = fetch([f"http://media.test:{server.port}/media/clip.mp4"], tmp_path, allow_private=True, resolve=resolve)
    assert got.size == len(CLIP)
    assert server.seen == [("/media/clip.mp4", f"media.test:{server.port}")]


def test_the_local_server_is_refused_by_default_before_any_request(server: Server, tmp_path: Path) -> None:
    with pytest.raises(UploadRejected, match="non-public address"):
        fetch([f"{server.base}/media/clip.mp4"], tmp_path)
    assert server.seen == [] and leftovers(tmp_path) == []


def test_over_limit_downloads_are_refused_without_leftovers(server: Server, tmp_path: Path) -> None:
    with pytest.raises(UploadTooLarge) as info:
        fetch([f"{server.base}/huge"], tmp_path, allow_private=True, max_file_bytes=MB)
    assert info.value.filename == "huge" and leftovers(tmp_path) == []
    with pytest.raises(UploadTooLarge):  # no Content-Length: caught while streaming
        fetch([f"{server.base}/endless"], tmp_path, allow_private=True, max_file_bytes=MB)
    assert leftovers(tmp_path) == []


def test_http_errors_timeouts_and_redirect_loops_are_rejected(server: Server, tmp_path: Path) -> None:
    with pytest.raises(UploadRejected, match="HTTP 404"):
        fetch([f"{server.base}/missing.mp4"], tmp_path, allow_private=True)
    with pytest.raises(UploadRejected, match="timed out"):
        fetch([f"{server.base}/slow"], tmp_path, allow_private=True, timeout_s=0.2)
    with pytest.raises(UploadRejected, match="more than 3 redirects"):
        fetch([f"{server.base}/loop"], tmp_path, allow_private=True, max_redirects=3)
    assert [path for path, _ in server.seen].count("/loop") == 4
    assert leftovers(tmp_path) == []


def test_a_failure_later_in_the_list_removes_earlier_downloads(server: Server, tmp_path: Path) -> None:
    urls = [f"{server.base}/media/clip.mp4", f"{server.base}/named", f"{server.base}/missing"]
    with pytest.raises(UploadRejected, match="HTTP 404"):
        fetch(urls, tmp_path, allow_private=True)
    assert len(server.seen) == 3 and leftovers(tmp_path) == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a test certificate")
def test_https_is_pinned_to_the_checked_address_with_sni_and_certificate_for_the_name(tmp_path: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
         "-subj", "/CN=tls.test", "-addext", "subjectAltName=DNS:tls.test",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
        check=True, capture_output=True,
    )  # fmt: skip
    client_tls = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
    with serve(tmp_path) as tls_server:
        url = f"https://tls.test:{tls_server.port}/media/clip.mp4"
        (got,) = fetch(
            [url], tmp_path / "out", allow_private=True, resolve=lambda host: ["127.0.0.1"],
            transport=httpx.AsyncHTTPTransport(verify=client_tls),
        )  # fmt: skip
        assert got.path.read_bytes() == CLIP
        assert tls_server.seen == [("/media/clip.mp4", f"tls.test:{tls_server.port}")]


# --- URL downloads: address and scheme checks, no network -------------------------------------------------------------


def public(host: str) -> list[str]:
    return {"cdn.example": ["93.184.216.34"], "evil.example": ["127.0.0.1"], "mixed.example": ["8.8.8.8", "10.0.0.7"],
            "internal.example": ["10.0.0.5"], "v6.example": ["2001:4860:4860::8888", "fd00::1"]}[host]  # fmt: skip


@dataclass
class Recorder:
    """A MockTransport handler that records requests and answers from a table keyed by (Host header, path)."""

    routes: dict[tuple[str, str], httpx.Response] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes.get((request.headers["host"], request.url.path), httpx.Response(404))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def refused(url: str, tmp_path: Path, resolve: Callable[[str], list[str]] = public) -> str:
    recorder = Recorder()
    with pytest.raises(UploadRejected) as info:
        fetch([url], tmp_path, resolve=resolve, transport=recorder.transport())
    assert recorder.requests == [] and leftovers(tmp_path) == []
    return str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.mp4",
        "http://[::1]/",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[2002:7f00:1::]/",  # 6to4 wrapping 127.0.0.1
        "https://100.64.0.1/",
        "http://224.0.0.1/",
    ],
)
def test_literal_non_public_addresses_are_refused(url: str, tmp_path: Path) -> None:
    assert "non-public address" in refused(url, tmp_path)


def test_localhost_is_refused_with_the_real_resolver(tmp_path: Path) -> None:
    try:
        socket.getaddrinfo("localhost", None)
    except OSError:
        pytest.skip("this machine cannot resolve localhost")
    recorder = Recorder()
    with pytest.raises(UploadRejected, match="non-public address"):
        fetch(["http://localhost/x.mp4"], tmp_path, transport=recorder.transport())
    assert recorder.requests == []


@pytest.mark.parametrize("host", ["evil.example", "mixed.example", "v6.example"])
def test_a_name_resolving_to_any_non_public_address_is_refused(host: str, tmp_path: Path) -> None:
    assert "non-public address" in refused(f"https://{host}/video.mp4", tmp_path)


def test_an_unresolvable_host_is_refused(tmp_path: Path) -> None:
    def fail(host: str) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    assert "could not resolve" in refused("http://nowhere.example/", tmp_path, resolve=fail)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://cdn.example/a.mp4",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "gopher://cdn.example/",
        "http://user:pass@cdn.example/a.mp4",
        "https://user@cdn.example/a.mp4",
        "not a url",
        "",
        "http:///no-host",
    ],
)
def test_bad_schemes_credentials_and_junk_are_refused(url: str, tmp_path: Path) -> None:
    asked: list[str] = []

    def resolve(host: str) -> list[str]:
        asked.append(host)
        return public(host)

    refused(url, tmp_path, resolve=resolve)
    assert asked == []


def test_the_scheme_is_named_in_the_message(tmp_path: Path) -> None:
    assert "'ftp'" in refused("ftp://cdn.example/a.mp4", tmp_path)
    assert "'file'" in refused("file:///etc/passwd", tmp_path)


def test_one_bad_url_refuses_the_whole_list_before_any_download(tmp_path: Path) -> None:
    recorder = Recorder({("cdn.example", "/a.mp4"): httpx.Response(200, content=b"data")})
    with pytest.raises(UploadRejected, match="'ftp'"):
        fetch(["https://cdn.example/a.mp4", "ftp://cdn.example/b.mp4"], tmp_path, resolve=public,
              transport=recorder.transport())  # fmt: skip
    assert recorder.requests == []


@pytest.mark.parametrize("urls", [[], ["https://cdn.example/x.mp4"] * 51])
def test_empty_and_overlong_url_lists_are_refused(urls: list[str], tmp_path: Path) -> None:
    with pytest.raises(UploadRejected):
        fetch(urls, tmp_path, resolve=public)


@pytest.mark.parametrize(
    "location",
    ["http://internal.example/secret", "http://127.0.0.1:8080/admin", "http://[::1]/", "file:///etc/passwd",
     "http://169.254.169.254/latest/meta-data"],
)  # fmt: skip
def test_a_redirect_to_a_non_public_or_non_http_target_is_refused(location: str, tmp_path: Path) -> None:
    recorder = Recorder({("cdn.example", "/a.mp4"): httpx.Response(302, headers={"Location": location})})
    with pytest.raises(UploadRejected):
        fetch(["https://cdn.example/a.mp4"], tmp_path, resolve=public, transport=recorder.transport())
    assert len(recorder.requests) == 1 and leftovers(tmp_path) == []
    first = recorder.requests[0]
    # Pinned: sent to the address that was checked, with the name kept for Host and (https) SNI.
    assert first.url.host == "93.184.216.34" and first.headers["host"] == "cdn.example"
    assert first.extensions["sni_hostname"] == "cdn.example"


def test_a_public_download_through_a_redirect(tmp_path: Path) -> None:
    recorder = Recorder({
        ("cdn.example", "/a"): httpx.Response(301, headers={"Location": "https://cdn.example/files/final%20cut.mp4?x=1"}),
        ("cdn.example", "/files/final cut.mp4"): httpx.Response(200, content=b"movie bytes"),
    })  # fmt: skip
    (got,) = fetch(["https://cdn.example/a"], tmp_path, resolve=public, transport=recorder.transport())
    assert (got.filename, got.size, got.source) == ("final cut.mp4", 11, "https://cdn.example/a")
    assert got.path.read_bytes() == b"movie bytes"


def test_upload_errors_share_a_base() -> None:
    assert issubclass(UploadTooLarge, UploadError) and issubclass(UploadRejected, UploadError)
    assert str(UploadRejected("nope")) == "nope"
