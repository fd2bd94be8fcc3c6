"""What a target cannot do is refused once, by the target ``build_target`` gives, with the words of
its provider's spec and before any request; commands that read local input first ask before
reading it, and are not asked again."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from bifrost_cli import service
from bifrost_cli.config import resolve
from bifrost_cli.errors import UnsupportedError
from bifrost_cli.providers import build_target, registry
from bifrost_cli.providers.base import BatchOptions, Capabilities, CheckedTarget, UploadSource
from bifrost_cli.providers.bedrock.gateway import gateway_target as bedrock_gateway
from bifrost_cli.providers.spec import EXPIRES_AFTER, METADATA, OPERATIONS, TIMEOUT_HOURS, Mode

GATEWAY = "https://gateway.example.test"
KEYS = {"anthropic_api_key": "sk-ant-x", "openai_api_key": "sk-x", "gemini_api_key": "g-x"}
WHERE: dict[Mode, dict[str, str]] = {
    "direct": KEYS,
    "gateway": {"base_url": GATEWAY},
    "emulator": {"emulator": "1"},
}


class NoRequests:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(500, json={"error": "no request was expected"})


def target(tmp_path: Path, server: NoRequests, provider: str, mode: Mode) -> CheckedTarget:
    flags = {"provider": provider, "max_retries": "0", **WHERE[mode]}
    settings = resolve(flags, environ={}, path=tmp_path / "absent.toml")
    return build_target(settings, transport=httpx.MockTransport(server))


def source(tmp_path: Path) -> UploadSource:
    path = tmp_path / "a.jsonl"
    path.write_text("{}\n")
    return UploadSource.from_path(path)


def calls(tmp_path: Path) -> dict[str, Callable[[CheckedTarget], Any]]:
    return {
        "files.upload": lambda t: t.upload_file(source(tmp_path), purpose="batch"),
        EXPIRES_AFTER: lambda t: t.upload_file(source(tmp_path), purpose="batch", expires_after=3600),
        "files.list": lambda t: list(t.list_files(limit=1)),
        "files.get": lambda t: t.get_file("file_1"),
        "files.delete": lambda t: t.delete_file("file_1"),
        "files.download": lambda t: t.open_download("file_1"),
        "batches.create": lambda t: t.create_batch(object(), BatchOptions()),  # type: ignore[arg-type]
        METADATA: lambda t: t.create_batch(object(), BatchOptions(metadata={"team": "x"})),  # type: ignore[arg-type]
        TIMEOUT_HOURS: lambda t: t.create_batch(object(), BatchOptions(timeout_hours=48)),  # type: ignore[arg-type]
        "batches.list": lambda t: list(t.list_batches(limit=1)),
        "batches.get": lambda t: t.get_batch("batch_1"),
        "batches.cancel": lambda t: t.cancel_batch("batch_1"),
        "batches.delete": lambda t: t.delete_batch("batch_1"),
        "batches.results": lambda t: list(t.iter_results("batch_1")),
    }


UNSUPPORTED = [
    pytest.param(spec.name, mode, operation, reason, id=f"{spec.name}-{mode}-{operation}")
    for spec in registry.specs()
    for mode in ("direct", "gateway", "emulator")
    for operation, reason in spec.unsupported_in(mode).items()
]


@pytest.mark.parametrize(("provider", "mode", "operation", "reason"), UNSUPPORTED)
def test_every_unsupported_operation_is_refused_in_the_spec_words_before_any_request(
    tmp_path: Path, provider: str, mode: Mode, operation: str, reason: str
) -> None:
    server = NoRequests()
    with pytest.raises(UnsupportedError) as info:
        calls(tmp_path)[operation](target(tmp_path, server, provider, mode))
    assert info.value.message == reason
    assert server.requests == []


def test_the_tables_name_only_known_operations() -> None:
    for spec in registry.specs():
        for mode in ("direct", "gateway", "emulator"):
            assert set(spec.unsupported_in(mode)) <= {*OPERATIONS, EXPIRES_AFTER, METADATA, TIMEOUT_HOURS}, (spec.name, mode)


def test_an_operation_an_adapter_lacks_is_refused_by_its_base_before_any_request(tmp_path: Path) -> None:
    server = NoRequests()
    settings = resolve({"provider": "bedrock"}, environ={}, path=tmp_path / "absent.toml")
    adapter = bedrock_gateway(GATEWAY, "bedrock", None, settings=settings, transport=httpx.MockTransport(server))
    with pytest.raises(UnsupportedError) as info:
        adapter.delete_batch("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdef123456")
    assert info.value.message == f"batches.delete is not possible with Bifrost gateway at {GATEWAY} (provider bedrock, /bedrock routes)"
    assert server.requests == []


def test_create_refuses_before_reading_the_input(tmp_path: Path) -> None:
    server = NoRequests()
    missing = str(tmp_path / "absent.jsonl")  # reading it would be a usage error of its own
    with pytest.raises(UnsupportedError, match="does not serve Bedrock"):
        service.create_batch(target(tmp_path, server, "bedrock", "emulator"), service.NewBatch(missing))
    assert server.requests == []


def test_upload_refuses_an_option_before_looking_at_the_paths(tmp_path: Path) -> None:
    server = NoRequests()
    uploads = service.upload_files(target(tmp_path, server, "gemini", "direct"), [str(tmp_path / "absent.jsonl")],
                                   purpose=None, expires_after=3600)
    with pytest.raises(UnsupportedError, match="always expire 48 hours after upload"):
        next(uploads)
    assert server.requests == []


class Asked(Capabilities):
    """Capabilities that remember every question."""

    def __init__(self, unsupported: dict[str, str]):
        super().__init__(unsupported)
        self.asked: list[str] = []

    def require(self, operation: str) -> None:
        self.asked.append(operation)
        super().require(operation)


def test_create_asks_once(tmp_path: Path) -> None:
    requests = tmp_path / "in.jsonl"
    requests.write_text('{"custom_id": "a", "params": {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "hi"}]}}\n')

    def anthropic(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": "msgbatch_1", "processing_status": "in_progress"})

    settings = resolve({"anthropic_api_key": "sk-ant-x"}, environ={}, path=tmp_path / "absent.toml")
    built = build_target(settings, transport=httpx.MockTransport(anthropic))
    capabilities = Asked(built.capabilities.unsupported)
    batch = service.create_batch(CheckedTarget(built.inner, capabilities), service.NewBatch(str(requests))).batch
    assert batch.id == "msgbatch_1"
    assert capabilities.asked == ["batches.create"]


def test_upload_asks_once_for_all_its_files(tmp_path: Path) -> None:
    paths = []
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text("{}\n")
        paths.append(str(tmp_path / name))

    def files(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": f"file-{len(paths)}", "object": "file", "bytes": 3, "purpose": "batch"})

    flags = {"provider": "openai", "openai_api_key": "sk-x"}
    built = build_target(resolve(flags, environ={}, path=tmp_path / "absent.toml"), transport=httpx.MockTransport(files))
    capabilities = Asked(built.capabilities.unsupported)
    uploaded = list(service.upload_files(CheckedTarget(built.inner, capabilities), paths, purpose="batch", expires_after=3600))
    assert len(uploaded) == 2
    assert capabilities.asked == ["files.upload", EXPIRES_AFTER]


@pytest.mark.parametrize(("provider", "options", "words"), [
    ("anthropic", {"metadata": ["team=x"]}, "Anthropic batches carry no metadata"),
    ("anthropic", {"timeout_hours": 48}, "Anthropic batches have no timeout setting"),
    ("gemini", {"metadata": ["team=x"]}, "Gemini batches have no metadata"),
    ("openai", {"timeout_hours": 48}, "OpenAI batches have no timeout setting"),
])
def test_create_refuses_an_option_the_provider_would_drop_before_reading_the_input(
    tmp_path: Path, provider: str, options: dict, words: str
) -> None:
    server = NoRequests()
    missing = str(tmp_path / "absent.jsonl")  # reading it would be a usage error of its own
    with pytest.raises(UnsupportedError, match=words):
        service.create_batch(target(tmp_path, server, provider, "direct"), service.NewBatch(missing, **options))
    assert server.requests == []
