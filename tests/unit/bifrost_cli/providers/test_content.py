"""The content blocks and sampling params of a neutral request are checked by one rule for every
provider that translates them (OpenAI, Gemini, Bedrock's Converse): the same problems, each in the
provider's own words."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bifrost_cli.providers.bedrock.format import to_converse_body
from bifrost_cli.providers.gemini.format import to_gemini_request
from bifrost_cli.providers.openai.format import chat_body

Translate = Callable[[dict[str, Any]], tuple[dict[str, Any], list[str]]]

# (provider, its translation, how it ends the problem of a key it cannot take)
PROVIDERS: list[tuple[str, Translate, str]] = [
    ("openai", chat_body, "cannot be sent to OpenAI: it has no Chat Completions equivalent"),
    ("gemini", to_gemini_request, "has no Gemini equivalent; remove it (nothing is dropped silently)"),
    ("bedrock", to_converse_body, "has no Converse equivalent; remove it, or use an Anthropic model (nothing is dropped silently)"),
]
IDS = [p[0] for p in PROVIDERS]
PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


def problems_of(translate: Translate, content: Any) -> list[str]:
    _, problems = translate({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": content}]})
    return problems


@pytest.mark.parametrize(("provider", "translate", "no_equivalent"), PROVIDERS, ids=IDS)
def test_keys_a_provider_cannot_take_are_named_in_the_order_written(provider: str, translate: Translate, no_equivalent: str) -> None:
    content = [{"type": "text", "text": "hi", "zeta": 1, "cache_control": {}}, {"type": "image", "source": PNG, "title": "x", "alt": "y"}]
    at = "params.messages[0].content"
    assert problems_of(translate, content) == [
        f"{at}[0].zeta {no_equivalent}",
        f"{at}[0].cache_control {no_equivalent}",
        f"{at}[1].title {no_equivalent}",
        f"{at}[1].alt {no_equivalent}",
    ]


@pytest.mark.parametrize(("provider", "translate", "no_equivalent"), PROVIDERS, ids=IDS)
def test_a_text_block_needs_its_text(provider: str, translate: Translate, no_equivalent: str) -> None:
    assert problems_of(translate, [{"type": "text", "text": 5}]) == ["params.messages[0].content[0].text must be a string"]
    assert problems_of(translate, [{"type": "text"}]) == ["params.messages[0].content[0].text must be a string"]


@pytest.mark.parametrize(("provider", "translate", "no_equivalent"), PROVIDERS, ids=IDS)
def test_an_image_needs_base64_data(provider: str, translate: Translate, no_equivalent: str) -> None:
    image = {"type": "image", "source": {**PNG, "data": ""}}
    assert problems_of(translate, [image]) == ["params.messages[0].content[0].source.data must be base64 text"]


@pytest.mark.parametrize(("provider", "translate", "no_equivalent"), PROVIDERS, ids=IDS)
def test_a_system_prompt_takes_no_image(provider: str, translate: Translate, no_equivalent: str) -> None:
    _, problems = translate({"model": "m", "max_tokens": 8, "system": [{"type": "image", "source": PNG}], "messages": []})
    assert len(problems) == 1 and problems[0].startswith("params.system[0]: ")
    assert "image" in problems[0]


def test_images_by_url_go_to_openai_only() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    assert problems_of(chat_body, [image]) == []
    assert problems_of(to_gemini_request, [image]) == [
        'params.messages[0].content[0].source: only base64 image data can be sent inline to Gemini '
        '(use {"type": "base64", "media_type": ..., "data": ...})'
    ]
    assert problems_of(to_converse_body, [image]) == [
        'params.messages[0].content[0].source: only base64 images can go in a Converse record ({"type": "base64", ...})'
    ]
    file = {"type": "image", "source": {"type": "file", "file_id": "f"}}
    assert problems_of(chat_body, [file]) == [
        'params.messages[0].content[0].source: only base64 and url image sources can be sent to OpenAI, got "file"'
    ]


def test_media_types_are_the_providers() -> None:
    bmp = [{"type": "image", "source": {**PNG, "media_type": "image/bmp"}}]
    assert problems_of(chat_body, bmp) == []  # OpenAI judges the media type itself
    assert problems_of(to_gemini_request, bmp) == [
        "params.messages[0].content[0].source.media_type must be one of "
        "image/jpeg, image/png, image/gif, image/webp, image/heic, image/heif"
    ]
    assert problems_of(to_converse_body, bmp) == [
        "params.messages[0].content[0].source.media_type must be one of image/jpeg, image/png, image/gif, image/webp"
    ]
    assert problems_of(chat_body, [{"type": "image", "source": {**PNG, "media_type": None}}]) == [
        "params.messages[0].content[0].source.media_type must be a string"
    ]


# (params, OpenAI's problem, Gemini's, Converse's)
SAMPLING: list[tuple[dict[str, Any], str, str, str]] = [
    ({"temperature": "hot"}, 'params.temperature must be a number, got "hot"', "params.temperature must be a number",
     "params.temperature has the wrong type for Converse's inferenceConfig.temperature"),
    ({"top_p": True}, "params.top_p must be a number, got true", "params.top_p must be a number",
     "params.top_p has the wrong type for Converse's inferenceConfig.topP"),
    ({"stop_sequences": "END"}, "params.stop_sequences must be an array of strings", "params.stop_sequences must be an array of strings",
     "params.stop_sequences has the wrong type for Converse's inferenceConfig.stopSequences"),
]


@pytest.mark.parametrize(("change", "openai", "gemini", "converse"), SAMPLING, ids=[next(iter(s[0])) for s in SAMPLING])
def test_sampling_params_of_the_wrong_type(change: dict[str, Any], openai: str, gemini: str, converse: str) -> None:
    params = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}], **change}
    assert chat_body(params)[1] == [openai]
    assert to_gemini_request(params)[1] == [gemini]
    assert to_converse_body(params)[1] == [converse]


def test_openai_lists_problems_in_the_order_of_the_params() -> None:
    params = {"model": "m", "top_k": 1, "temperature": "hot", "service_tier": "auto", "max_tokens": 8, "messages": []}
    assert [p.split(" ", 1)[0] for p in chat_body(params)[1]] == ["params.top_k", "params.temperature", "params.service_tier"]
