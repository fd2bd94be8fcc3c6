"""An id shaped as another provider's is refused before any request, naming the provider; an id of
the provider's own shape (or of no known shape) goes through."""

from __future__ import annotations

import pytest

from bifrost_cli.errors import ExitCode, UsageError
from bifrost_cli.providers import registry
from bifrost_cli.providers.common import refuse_foreign_id

SAMPLES = {  # ids as each provider gives them (the emulator's shapes, directly and through the gateway)
    "anthropic": {"batch": "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d", "file": "file_011CNha8iCJcU1wXNR6q4V8w"},
    "openai": {"batch": "batch_166477f4967f4106d329bccc21e9461d", "file": "file-QiqLCl2aaVHq68FBjLASvn75"},
    "gemini": {"batch": "batches/lshqe5q0e0w5", "file": "files/0jropuys2px8"},
    "bedrock": {"batch": "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefghijkl",
                "file": "s3://bucket/runs/in.jsonl"},
}
OPERATION = {"batch": "get_batch", "file": "get_file"}


def test_every_provider_declares_the_shapes_of_its_ids() -> None:
    assert set(SAMPLES) == set(registry.names())
    for name in registry.names():
        assert set(registry.get(name).id_shapes) == {"batch", "file"}


@pytest.mark.parametrize("kind", ["batch", "file"])
@pytest.mark.parametrize("owner", sorted(SAMPLES))
def test_an_id_is_refused_by_every_other_provider_and_kept_by_its_own(owner: str, kind: str) -> None:
    identifier = SAMPLES[owner][kind]
    refuse_foreign_id(owner, OPERATION[kind], identifier)  # its own: no error
    title = registry.get(owner).title
    for provider in set(SAMPLES) - {owner}:
        with pytest.raises(UsageError) as info:
            refuse_foreign_id(provider, OPERATION[kind], identifier)
        assert f"looks like a{'n' if title[0] in 'AEIOU' else ''} {title} {kind} id" in info.value.message
        assert f"add -p {owner}" in info.value.message
        assert info.value.exit_code == ExitCode.USAGE
        assert info.value.hint is not None and f"-p {owner} " in info.value.hint and identifier in info.value.hint


@pytest.mark.parametrize("identifier", ["abc", "lshqe5q0e0w5", "abcdefghijkl", "my-batch"])
def test_ids_of_no_known_shape_go_through(identifier: str) -> None:
    for provider in SAMPLES:  # Gemini takes bare names, Bedrock 12-character job ids
        refuse_foreign_id(provider, "get_batch", identifier)
        refuse_foreign_id(provider, "open_download", identifier)


def test_the_check_comes_before_any_request() -> None:
    import httpx

    from bifrost_cli.config import resolve
    from bifrost_cli.providers import build_target

    def no_request(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"sent {request.url}")

    settings = resolve({"base_url": "http://127.0.0.1:9", "provider": "anthropic"})
    target = build_target(settings, transport=httpx.MockTransport(no_request))
    with pytest.raises(UsageError, match="add -p gemini"):
        target.get_batch("batches/abc")
    with pytest.raises(UsageError, match="add -p openai"):
        target.check("files.download").open_download("file-abc")
