"""Getting uploaded bytes onto disk safely: streamed multipart bodies and server-side URL downloads (api-contract E4).

Both entry points are all-or-nothing: on any failure, cancellation included, every file the call wrote is deleted
before the error propagates; on success the caller owns the files. Bytes go to `.part-<hex>` files in `dest_dir` as
they arrive, never whole into memory, and a file passing `max_file_bytes` stops the read at once (UploadTooLarge, 4002).
Files are not typed here; that happens later, by probing the content.

DNS rebinding is closed rather than documented: `fetch_urls` resolves each hop's host itself, checks every address, and
then connects to a checked address, not to the name. The URL's host becomes the IP, the `Host` header keeps the name,
and for https the `sni_hostname` request extension keeps it for SNI and the certificate check, so a second DNS answer
cannot steer the connection anywhere unchecked. `trust_env=False` because an environment proxy would connect on our
behalf (the check would then be moot) and a ~/.netrc could hand credentials to a host the client picked.
`Connection: close` stops a TLS connection made for one name being reused for another name on the same IP.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.message
import ipaddress
import re
import secrets
import socket
import unicodedata
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import IO, Any

import httpx
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

MAX_NAME_CHARS = 200
NO_FILE_MESSAGE = "no file in the request (use the multipart field 'files')"
# RFC 2046 §5.1.1 bchars; every real client (browsers, curl, httpx, requests) stays inside this.
_BOUNDARY = re.compile(rb"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class Received:
    field: str  # the form field it came from ("files" or "file"), or "url"
    filename: str  # safe display name (see safe_filename); never a path
    path: Path  # where its bytes are, inside dest_dir
    size: int
    sha256: str  # hex digest of the bytes
    source: str  # "upload" or the URL it was fetched from


class UploadError(Exception):
    """Base for everything this module raises on purpose; str(exc) is a message fit for the client."""


class UploadTooLarge(UploadError):
    """A file went over the per-file limit (api-contract code 4002)."""

    def __init__(self, filename: str, limit_bytes: int) -> None:
        super().__init__(f"'{filename}' is larger than the per-file limit of {limit_bytes:,} bytes")
        self.filename = filename
        self.limit_bytes = limit_bytes


class UploadRejected(UploadError):
    """Anything else the client got wrong: a malformed body, no file, a refused URL, a failed download."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyFiles(UploadRejected):
    """More files (or URLs) in one request than ``max_files``; ``count`` is how many were seen when it stopped."""

    def __init__(self, what: str, count: int, max_files: int) -> None:
        super().__init__(f"too many {what} in one request (at most {max_files})")
        self.what, self.count, self.max_files = what, count, max_files


def safe_filename(raw: str) -> str:
    """Basename only; no separators, control/format chars or leading dots; <= 200 chars; "upload" if nothing is left."""
    # NFKC first, so look-alike slashes (U+FF0F, U+FF3C) become real ones and are split off too.
    name = unicodedata.normalize("NFKC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C")).strip().lstrip(".").strip()
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        suffix = dot + ext if stem and 0 < len(ext) <= 16 else ""  # keep a short extension; it helps people
        name = name[: MAX_NAME_CHARS - len(suffix)].rstrip() + suffix
    return name or "upload"


def _new_part(dest_dir: Path, written: list[Path]) -> tuple[Path, IO[bytes]]:
    path = dest_dir / f".part-{secrets.token_hex(16)}"
    handle = open(path, "xb")  # exclusive create: never follows or clobbers an existing name
    written.append(path)
    return path, handle


def _discard(written: list[Path]) -> None:
    for path in written:
        path.unlink(missing_ok=True)
    written.clear()


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class _MultipartSink:
    """MultipartParser callbacks for one request. Mutable, but it lives only inside one receive_multipart call."""

    def __init__(self, dest_dir: Path, max_file_bytes: int, fields: tuple[str, ...], max_files: int) -> None:
        self.dest_dir, self.max_file_bytes, self.fields, self.max_files = dest_dir, max_file_bytes, fields, max_files
        self.written: list[Path] = []
        self.received: list[Received] = []
        self.ended = False
        self._name_buf, self._value_buf, self._headers = bytearray(), bytearray(), dict[str, bytes]()
        self._file_parts = 0
        self._handle: IO[bytes] | None = None
        self._field, self._raw_name, self._name, self._path, self._hash, self._size = "", "", "", Path(), sha256(), 0

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._headers.clear,
            "on_header_field": lambda data, start, end: self._name_buf.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value_buf.extend(data[start:end]),
            "on_header_end": self._header_end, "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data, "on_part_end": self._part_end, "on_end": self._end,
        }  # fmt: skip

    def _header_end(self) -> None:
        self._headers[self._name_buf.decode("latin-1").strip().lower()] = bytes(self._value_buf).strip()
        self._name_buf.clear()
        self._value_buf.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get("content-disposition"))
        field = _decode(options.get(b"name", b""))
        # A part without a filename parameter is a plain form field; a file under another name is not ours. Both are
        # skipped without storing anything. (python-multipart drops `filename*`: RFC 7578 §4.2 forbids it here.)
        if b"filename" not in options or field not in self.fields:
            return
        self._file_parts += 1
        if self._file_parts > self.max_files:
            raise TooManyFiles("files", self._file_parts, self.max_files)
        self._field, self._raw_name = field, _decode(options[b"filename"])
        self._name, self._hash, self._size = safe_filename(self._raw_name), sha256(), 0
        self._path, self._handle = _new_part(self.dest_dir, self.written)

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._handle is None:
            return
        self._size += end - start
        if self._size > self.max_file_bytes:
            raise UploadTooLarge(self._name, self.max_file_bytes)
        self._handle.write(data[start:end])
        self._hash.update(data[start:end])

    def _part_end(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        self._handle = None
        if self._raw_name == "" and self._size == 0:  # what a browser sends for a file input left empty: no upload
            self._path.unlink()
            self.written.remove(self._path)
            return
        digest = self._hash.hexdigest()
        self.received.append(Received(self._field, self._name, self._path, self._size, digest, "upload"))

    def _end(self) -> None:
        self.ended = True

    def discard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        _discard(self.written)


def _boundary(content_type: str) -> bytes:
    ctype, options = parse_options_header(content_type)
    if ctype != b"multipart/form-data":
        raise UploadRejected(f"expected a multipart/form-data body, got '{_decode(ctype) or 'no content type'}'")
    boundary = options.get(b"boundary", b"")
    if not _BOUNDARY.fullmatch(boundary):
        raise UploadRejected("the Content-Type header has no valid multipart boundary")
    return boundary


async def receive_multipart(
    chunks: AsyncIterator[bytes],
    content_type: str,
    dest_dir: Path,
    *,
    max_file_bytes: int,
    fields: tuple[str, ...] = ("files", "file"),
    max_files: int = 50,
) -> list[Received]:
    """Stream a multipart/form-data body into files in dest_dir, one per file part whose field is in `fields`."""
    boundary = _boundary(content_type)
    dest_dir.mkdir(parents=True, exist_ok=True)
    sink = _MultipartSink(dest_dir, max_file_bytes, fields, max_files)
    try:
        try:
            parser = MultipartParser(boundary, sink.callbacks())
            async for chunk in chunks:
                parser.write(chunk)  # callbacks run inside write(); UploadTooLarge stops the loop mid-body
            parser.finalize()
        except FormParserError as exc:
            raise UploadRejected(f"malformed multipart body: {exc}") from exc
        if not sink.ended:
            raise UploadRejected("the multipart body ended before its closing boundary")
        if not sink.received:
            raise UploadRejected(NO_FILE_MESSAGE)
    except BaseException:  # CancelledError and client disconnects too: nothing half-written may stay behind
        sink.discard()
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):  # the original error is the one worth reporting
                await aclose()  # stop the body generator now rather than at garbage collection
        raise
    return sink.received


@dataclass(frozen=True, slots=True)
class _FetchPolicy:
    dest_dir: Path
    max_file_bytes: int
    allow_private: bool
    max_redirects: int
    resolve: Callable[[str], list[str]]


def _getaddrinfo(host: str) -> list[str]:
    return [str(info[4][0]) for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]


def is_blocked_address(ip: IPAddress) -> bool:
    """True for anything that is not a plain public unicast address, including IPv6 forms that embed such an IPv4."""
    if isinstance(ip, ipaddress.IPv6Address):
        nat64 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) if ip in _NAT64 else None
        embedded = ip.ipv4_mapped or ip.sixtofour or nat64
        if embedded is not None and is_blocked_address(embedded):
            return True
    return (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
        or ip.is_unspecified or not ip.is_global
    )  # fmt: skip


def _parse_url(raw: str) -> httpx.URL:
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UploadRejected(f"not a valid URL: {str(raw)[:200]!r}") from exc
    if url.scheme not in ("http", "https"):
        raise UploadRejected(f"unsupported URL scheme '{url.scheme or '(none)'}': only http and https can be fetched")
    if url.userinfo:
        raise UploadRejected("URLs with credentials (user:password@) are not accepted")
    if not url.raw_host:
        raise UploadRejected(f"the URL has no host: {raw[:200]!r}")
    return url


def _resolved(host: str, resolve: Callable[[str], list[str]]) -> list[IPAddress]:
    """The host's addresses (blocking: DNS); a literal IP is itself, without DNS."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        addresses = list(dict.fromkeys(ipaddress.ip_address(a) for a in resolve(host)))
    except (OSError, ValueError) as exc:
        raise UploadRejected(f"could not resolve host '{host}'") from exc
    if not addresses:
        raise UploadRejected(f"could not resolve host '{host}'")
    return addresses


def _refuse_blocked(host: str, addresses: list[IPAddress], allow_private: bool, doing: str) -> list[IPAddress]:
    blocked = [ip for ip in addresses if is_blocked_address(ip)]
    if blocked and not allow_private:
        raise UploadRejected(f"refusing to {doing} '{host}': it resolves to a non-public address ({blocked[0]})")
    return addresses


async def _checked_addresses(url: httpx.URL, policy: _FetchPolicy) -> list[IPAddress]:
    host = url.raw_host.decode("ascii")
    try:
        addresses = [ipaddress.ip_address(host)]  # a literal IP is checked the same way, without DNS
    except ValueError:
        addresses = await asyncio.to_thread(_resolved, host, policy.resolve)
    return _refuse_blocked(host, addresses, policy.allow_private, "fetch from")


def checked_url(
    raw: str, allow_private: bool, resolve: Callable[[str], list[str]] | None = None, doing: str = "call"
) -> tuple[httpx.URL, list[IPAddress]]:
    """The URL uploads' SSRF guard for a URL reelforge itself will call (webhooks): http(s), no credentials, and a
    host whose every address is public unless ``allow_private``. Blocking (DNS). (url, its checked addresses);
    UploadRejected names what is wrong."""
    url = _parse_url(raw)
    host = url.raw_host.decode("ascii")
    return url, _refuse_blocked(host, _resolved(host, resolve or _getaddrinfo), allow_private, doing)


async def _open(client: httpx.AsyncClient, url: httpx.URL, policy: _FetchPolicy) -> httpx.Response:
    """Send GET to one of the checked addresses of url's host (see the module docstring), trying each in turn."""
    addresses = await _checked_addresses(url, policy)
    headers = {"Host": url.netloc.decode("ascii"), "Accept-Encoding": "identity", "Connection": "close"}
    extensions = {"sni_hostname": url.raw_host.decode("ascii")} if url.scheme == "https" else {}

    def request(ip: IPAddress) -> httpx.Request:
        try:
            pinned = url.copy_with(host=str(ip))
        except httpx.InvalidURL as exc:  # e.g. a scoped link-local IPv6 address
            raise UploadRejected(f"cannot connect to address {ip}") from exc
        return client.build_request("GET", pinned, headers=headers, extensions=extensions)

    for ip in addresses[:-1]:
        with contextlib.suppress(httpx.ConnectError, httpx.ConnectTimeout):
            return await client.send(request(ip), stream=True)
    return await client.send(request(addresses[-1]), stream=True)  # the last address's error is the one reported


def _display_name(response: httpx.Response, url: httpx.URL) -> str:
    disposition = response.headers.get("content-disposition")
    if disposition:
        message = email.message.Message()
        message["content-disposition"] = disposition
        if named := message.get_filename():  # understands RFC 6266 filename* as well
            return safe_filename(named)
    return safe_filename(url.path.rsplit("/", 1)[-1])


async def _save(
    response: httpx.Response, url: httpx.URL, source: str, policy: _FetchPolicy, written: list[Path]
) -> Received:
    if not response.is_success:
        raise UploadRejected(f"fetching {source} failed: HTTP {response.status_code} from {url.host}")
    name = _display_name(response, url)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > policy.max_file_bytes:
        raise UploadTooLarge(name, policy.max_file_bytes)  # refuse before reading a byte of the body
    path, handle = _new_part(policy.dest_dir, written)
    digest, size = sha256(), 0
    with handle:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > policy.max_file_bytes:
                raise UploadTooLarge(name, policy.max_file_bytes)
            handle.write(chunk)
            digest.update(chunk)
    return Received("url", name, path, size, digest.hexdigest(), source)


async def _fetch_one(client: httpx.AsyncClient, source: str, policy: _FetchPolicy, written: list[Path]) -> Received:
    url = _parse_url(source)
    try:
        for _hop in range(policy.max_redirects + 1):
            response = await _open(client, url, policy)
            try:
                if not response.has_redirect_location:
                    return await _save(response, url, source, policy, written)
                location = response.headers["location"]
            finally:
                await response.aclose()
            try:
                next_url = url.join(location)
            except httpx.InvalidURL as exc:
                raise UploadRejected(f"fetching {source} failed: bad redirect location {location[:200]!r}") from exc
            url = _parse_url(str(next_url))  # every hop is checked again: scheme, credentials, addresses
    except httpx.TimeoutException as exc:
        raise UploadRejected(f"fetching {source} timed out") from exc
    except httpx.HTTPError as exc:
        raise UploadRejected(f"fetching {source} failed: {exc.__class__.__name__}: {exc}") from exc
    raise UploadRejected(f"fetching {source} failed: more than {policy.max_redirects} redirects")


async def fetch_urls(
    urls: Sequence[str],
    dest_dir: Path,
    *,
    max_file_bytes: int,
    timeout_s: float,
    allow_private: bool,
    max_redirects: int = 5,
    resolve: Callable[[str], list[str]] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    max_files: int = 50,
) -> list[Received]:
    """Download each URL (http/https, public addresses unless allow_private) into a file in dest_dir, in order."""
    if isinstance(urls, str) or not urls:
        raise UploadRejected("no URL given (send {\"urls\": [...], \"source_type\": \"url\"})")
    if len(urls) > max_files:
        raise TooManyFiles("URLs", len(urls), max_files)
    for raw in urls:
        _parse_url(raw)  # refuse a bad scheme anywhere in the list before anything is downloaded
    policy = _FetchPolicy(dest_dir, max_file_bytes, allow_private, max_redirects, resolve or _getaddrinfo)
    dest_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s), transport=transport, follow_redirects=False, trust_env=False
        ) as client:
            return [await _fetch_one(client, raw, policy, written) for raw in urls]
    except BaseException:
        _discard(written)
        raise
