"""The small protocol every target (a provider's own API, or a gateway) implements."""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn, Protocol, Self, cast

from bifrost_cli.errors import UnsupportedError
from bifrost_cli.providers.spec import EXPIRES_AFTER, METADATA, TIMEOUT_HOURS

if TYPE_CHECKING:
    from bifrost_cli.http import Body
    from bifrost_cli.inputs import RequestSet
    from bifrost_cli.models import Batch, BatchResult, DeletedFile, File

Progress = Callable[[int], None]
"""Called with the number of bytes just transferred."""


UPLOAD_CHUNK = 1024 * 1024


@dataclass
class UploadSource:
    """A file to upload: a path on disk, or a stream (stdin) with a name given by the user."""

    filename: str
    path: Path | None = None
    stream: IO[bytes] | None = None
    size: int | None = None
    mime_type: str | None = None

    @classmethod
    def from_path(cls, path: Path, filename: str | None = None) -> UploadSource:
        name = filename or path.name
        return cls(filename=name, path=path, size=path.stat().st_size, mime_type=guess_mime(name))

    @classmethod
    def from_stream(cls, stream: IO[bytes], filename: str) -> UploadSource:
        return cls(filename=filename, stream=stream, size=None, mime_type=guess_mime(filename))

    @property
    def replayable(self) -> bool:
        return self.path is not None

    def chunks(self, progress: Progress | None = None) -> Iterator[bytes]:
        """The file's bytes, read a chunk at a time (never the whole file)."""
        if self.path is not None:
            with open(self.path, "rb") as fh:
                yield from self._read_chunks(fh, progress)
        else:
            assert self.stream is not None
            yield from self._read_chunks(self.stream, progress)

    def seen(self, offset: int, data: bytes) -> None:
        """Told of the bytes at ``offset`` as they are read to be sent, by whatever reads them
        (each attempt reads them again); a no-op here (see ``service.files``, which hashes them)."""

    def _read_chunks(self, fh: IO[bytes], progress: Progress | None) -> Iterator[bytes]:
        offset = 0
        while chunk := fh.read(UPLOAD_CHUNK):
            self.seen(offset, chunk)
            offset += len(chunk)
            if progress is not None:
                progress(len(chunk))
            yield chunk


def guess_mime(filename: str) -> str:
    lower = filename.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        return "application/jsonl"
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def multipart_body(
    fields: dict[str, str],
    file_field: str,
    source: UploadSource,
    progress: Progress | None = None,
) -> Body:
    """A streamed multipart/form-data body; its length is known whenever the file's size is."""
    from bifrost_cli.http import Body

    boundary = "bifrost-" + uuid.uuid4().hex
    head = bytearray()
    for name, value in fields.items():
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    safe_name = source.filename.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{safe_name}"\r\n'
        f"Content-Type: {source.mime_type or 'application/octet-stream'}\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head) + source.size + len(tail) if source.size is not None else None

    def factory() -> Iterable[bytes]:
        yield bytes(head)
        yield from source.chunks(progress)
        yield tail

    return Body(
        factory,
        length=length,
        content_type=f"multipart/form-data; boundary={boundary}",
        replayable=source.replayable,
    )


def paginate(
    fetch: Callable[[int, Any], Any],
    items_of: Callable[[Any], Any],
    parse: Callable[[Any], Any],
    next_state: Callable[[Any, list[Any]], Any],
    *,
    limit: int | None,
    page_max: int,
    where: str,
) -> Iterator[Any]:
    """Objects across every page of a list, up to ``limit``.

    ``fetch(size, state)`` gets one page (``state`` is None for the first); ``items_of(page)`` its
    raw items; ``next_state(page, items)`` the state for the next page, or None after the last. An
    object seen before is skipped, and a page with nothing new ends the walk, so a server that
    ignores the cursor cannot make the walk loop forever.
    """
    remaining = limit
    state: Any = None
    seen: set[str] = set()
    while remaining is None or remaining > 0:
        page = fetch(min(remaining or page_max, page_max), state)
        from bifrost_cli.providers.common import MalformedAnswer, reading, shape

        with reading(f"the list page from {where}"):
            items = items_of(page) if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise MalformedAnswer(f"expected a list page from {where}, got {shape(page)}")
        fresh = 0
        for n, item in enumerate(items):
            with reading(f"item {n} of the list page from {where}", within=True):
                obj = parse(item)
            if obj.id in seen:
                continue
            seen.add(obj.id)
            fresh += 1
            yield obj
            if remaining is not None:
                remaining -= 1
                if remaining <= 0:
                    return
        if not fresh:
            return
        with reading(f"the list page from {where}"):
            state = next_state(page, items)
        if state is None:
            return


SPLIT_HINT = "Pass --split to create as many batches as needed, or split the input into several files; nothing was sent."
"""The hint of every refusal of an input over a provider's per-batch limits."""


def require_format(requests: RequestSet, accepted: str | tuple[str, ...], provider: str) -> None:
    """Refuse, before any I/O, an input in a native format this target cannot send."""
    names = (accepted,) if isinstance(accepted, str) else accepted
    fmt = getattr(requests, "input_format", "anthropic")
    if fmt not in names and fmt != "anthropic":
        raise UnsupportedError(
            f"{getattr(requests, 'display_name', 'the input')} is in {fmt}'s native format, which {provider} cannot run",
            hint=f'Use -p {fmt}, or write the requests in the provider-neutral form {{"custom_id": ..., "params": {{...}}}}.',
        )


@dataclass
class BatchOptions:
    """Options of ``batches create`` that only some targets use (each says when one does not apply)."""

    metadata: dict[str, str] = field(default_factory=dict)  # openai: the batch's metadata
    completion_window: str = "24h"  # openai
    timeout_hours: int | None = None  # bedrock: timeoutDurationInHours (24-168)
    job_name: str | None = None  # bedrock: the job's name; gemini: the batch's display name
    client_token: str | None = None
    """``bifrost-<24 hex>``, from the target, the input and these options (see
    :mod:`bifrost_cli.service.batches`): carried where the provider keeps it (OpenAI metadata
    ``bifrost_token``, Gemini display name, Bedrock ``clientRequestToken`` and job name), and read
    back into ``Batch.details["client_token"]`` so an earlier create can be found."""


@dataclass(frozen=True)
class Checksum:
    """A digest the provider gives for a file's bytes: ``algorithm`` for :func:`hashlib.new`,
    the ``digest`` it must have, and ``source``, what gave it (named when it does not match)."""

    algorithm: str
    digest: bytes
    source: str


class OpenDownload(Protocol):
    """What ``open_download`` gives: the bytes with ``chunks()``; always ``close()`` it.

    ``size`` is what the provider says the file holds (its metadata, else the answer's length);
    ``checksum``, a digest the provider gives for it; a download is complete only when both hold."""

    @property
    def size(self) -> int | None: ...

    @property
    def filename(self) -> str | None: ...

    @property
    def checksum(self) -> Checksum | None: ...

    def chunks(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class ByteStream(Protocol):
    """What a download streams from: an HTTP response (resumed with Range, see
    :mod:`bifrost_cli.http.ranged`), or a body already read."""

    def iter_bytes(self, chunk_size: int = ...) -> Iterator[bytes]: ...

    def close(self) -> None: ...


@dataclass
class Download:
    """An open download over an HTTP response: stream its bytes with ``chunks()``; always ``close()`` it."""

    response: ByteStream
    size: int | None = None
    filename: str | None = None
    checksum: Checksum | None = None

    def chunks(self) -> Iterator[bytes]:
        return self.response.iter_bytes()

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> Download:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def expected_size(metadata_size: int | None, response: Any) -> int | None:
    """The size a download must reach: the file's metadata size when the provider gives one (an
    answer's Content-Length can be cut short with the body), else the answer's length. A metadata
    size of 0 says nothing (some routes report no size that way): the answer's length counts."""
    if isinstance(metadata_size, int) and metadata_size > 0:
        return metadata_size
    return getattr(response, "content_length", None)


@dataclass
class Capabilities:
    """What a target can do; an operation (or an option, like ``EXPIRES_AFTER``) it cannot do
    carries the message that says what to do instead."""

    unsupported: dict[str, str] = field(default_factory=dict)

    def require(self, operation: str) -> None:
        reason = self.unsupported.get(operation)
        if reason is not None:
            from bifrost_cli.hints import expand

            raise UnsupportedError(expand(reason))


class Target(Protocol):
    """A place files and batches live: a provider's API or a gateway in front of one."""

    provider: str

    def describe(self) -> str: ...

    def upload_file(
        self,
        source: UploadSource,
        *,
        purpose: str | None,
        progress: Progress | None = None,
        expires_after: int | None = None,
    ) -> File: ...

    def list_files(self, *, limit: int | None) -> Iterator[File]: ...

    def get_file(self, file_id: str) -> File: ...

    def delete_file(self, file_id: str) -> DeletedFile: ...

    def open_download(self, file_id: str) -> OpenDownload: ...

    def create_batch(self, requests: RequestSet, options: BatchOptions) -> Batch: ...

    def list_batches(self, *, limit: int | None) -> Iterator[Batch]: ...

    def get_batch(self, batch_id: str) -> Batch: ...

    def cancel_batch(self, batch_id: str) -> Batch: ...

    def delete_batch(self, batch_id: str) -> None: ...

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]: ...

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None: ...


class BaseTarget:
    """What every adapter starts from: each operation refused, in one place, so that an adapter
    writes only what its target can do. What a provider cannot do is said, with what to do instead,
    by its spec's ``unsupported`` tables, which :class:`CheckedTarget` applies before any call gets
    here; this is the answer for an operation an adapter lacks and no table names."""

    provider: str
    carries_token: bool = False
    """Whether a batch created with ``BatchOptions.client_token`` shows it again in ``list_batches``
    (``details["client_token"]``), so an earlier create can be found on the provider's side. An
    adapter without this attribute carries none."""

    def describe(self) -> str:
        return f"the {self.provider} target"

    def preflight(self, options: BatchOptions) -> None:
        """Refuse, with no I/O, create options this target's provider would refuse (called before
        anything is looked up or sent); nothing to refuse by default."""

    def close(self) -> None:
        """Nothing to release."""

    def _refuse(self, operation: str) -> NoReturn:
        raise UnsupportedError(f"{operation} is not possible with {self.describe()}")

    def upload_file(
        self,
        source: UploadSource,
        *,
        purpose: str | None,
        progress: Progress | None = None,
        expires_after: int | None = None,
    ) -> File:
        self._refuse("files.upload")

    def list_files(self, *, limit: int | None) -> Iterator[File]:
        self._refuse("files.list")

    def get_file(self, file_id: str) -> File:
        self._refuse("files.get")

    def delete_file(self, file_id: str) -> DeletedFile:
        self._refuse("files.delete")

    def open_download(self, file_id: str) -> OpenDownload:
        self._refuse("files.download")

    def create_batch(self, requests: RequestSet, options: BatchOptions) -> Batch:
        self._refuse("batches.create")

    def list_batches(self, *, limit: int | None) -> Iterator[Batch]:
        self._refuse("batches.list")

    def get_batch(self, batch_id: str) -> Batch:
        self._refuse("batches.get")

    def cancel_batch(self, batch_id: str) -> Batch:
        self._refuse("batches.cancel")

    def delete_batch(self, batch_id: str) -> None:
        self._refuse("batches.delete")

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        self._refuse("batches.results")

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        self._refuse("batches.results")


class CheckedTarget:
    """A target behind the one capability check: every operation the target cannot do is refused
    here, before any I/O, with the message that says what to do instead. ``build_target`` puts
    one around every target; adapters never check capabilities themselves."""

    def __init__(self, inner: Target, capabilities: Capabilities, identity: str | None = None):
        from bifrost_cli.providers.common import Answering

        self.inner = inner
        self.capabilities = capabilities
        self.provider = inner.provider
        self.carries_token = bool(getattr(inner, "carries_token", False))
        self.identity = identity or f"{inner.provider}:{inner.describe()}"
        """What the ledger and the client token know the target by: ``mode:provider:address``."""
        # every operation through here: a malformed answer is "unexpected answer from SERVER"
        self._answering = cast("Target", Answering(inner))

    def preflight(self, options: BatchOptions) -> None:
        """The target's own refusal of create options (tags, locations...), before any I/O."""
        if options.metadata:
            self.capabilities.require(METADATA)
        if options.timeout_hours is not None:
            self.capabilities.require(TIMEOUT_HOURS)
        check = getattr(self.inner, "preflight", None)
        if check is not None:
            check(options)

    def check(self, *operations: str) -> Target:
        """Refuse now, before any local work (reading an input, opening a file), each operation
        the target cannot do; what comes back runs them without asking again."""
        for operation in operations:
            self.capabilities.require(operation)
        return self._answering

    def describe(self) -> str:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()

    def upload_file(
        self,
        source: UploadSource,
        *,
        purpose: str | None,
        progress: Progress | None = None,
        expires_after: int | None = None,
    ) -> File:
        self.capabilities.require("files.upload")
        if expires_after is not None:
            self.capabilities.require(EXPIRES_AFTER)
        return self._answering.upload_file(source, purpose=purpose, progress=progress, expires_after=expires_after)

    def list_files(self, *, limit: int | None) -> Iterator[File]:
        self.capabilities.require("files.list")
        return self._answering.list_files(limit=limit)

    def get_file(self, file_id: str) -> File:
        self.capabilities.require("files.get")
        return self._answering.get_file(file_id)

    def delete_file(self, file_id: str) -> DeletedFile:
        self.capabilities.require("files.delete")
        return self._answering.delete_file(file_id)

    def open_download(self, file_id: str) -> OpenDownload:
        self.capabilities.require("files.download")
        return self._answering.open_download(file_id)

    def create_batch(self, requests: RequestSet, options: BatchOptions | None = None) -> Batch:
        self.capabilities.require("batches.create")
        options = options or BatchOptions()
        self.preflight(options)
        return self._answering.create_batch(requests, options)

    def list_batches(self, *, limit: int | None) -> Iterator[Batch]:
        self.capabilities.require("batches.list")
        return self._answering.list_batches(limit=limit)

    def get_batch(self, batch_id: str) -> Batch:
        self.capabilities.require("batches.get")
        return self._answering.get_batch(batch_id)

    def cancel_batch(self, batch_id: str) -> Batch:
        self.capabilities.require("batches.cancel")
        return self._answering.cancel_batch(batch_id)

    def delete_batch(self, batch_id: str) -> None:
        self.capabilities.require("batches.delete")
        self._answering.delete_batch(batch_id)

    def iter_results(self, batch_id: str) -> Iterator[BatchResult]:
        self.capabilities.require("batches.results")
        return self._answering.iter_results(batch_id)

    def iter_raw_results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        self.capabilities.require("batches.results")
        return self._answering.iter_raw_results(batch_id)
