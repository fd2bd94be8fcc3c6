"""Anthropic message content (a string, or text and image blocks) turned into another provider's
parts, with a problem reported for every block or key that has no equivalent there."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import Any

ImagePart = Callable[[str, str], dict[str, Any]]
"""Builds a provider's image part from ``(media_type, base64_data)``."""


def convert_blocks(
    content: Any,
    where: str,
    problems: list[str],
    *,
    no_equivalent: str,
    image: ImagePart | None,
    image_types: Collection[str] = (),
    base64_rule: str = "",
) -> list[dict[str, Any]]:
    """``content`` as ``{"text": ...}`` parts and ``image(...)`` parts (``image=None``: no images).

    ``no_equivalent`` ends the message of anything else; ``base64_rule`` is the message for an
    image whose source is not base64 data; ``image_types`` are the accepted media types.
    """
    if isinstance(content, str):
        return [{"text": content}]
    if not isinstance(content, list):
        problems.append(f"{where} must be a string or an array of content blocks")
        return []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        at = f"{where}[{index}]"
        if not isinstance(block, dict):
            problems.append(f"{at} must be an object")
            continue
        btype = block.get("type")
        if btype == "text":
            for key in sorted(set(block) - {"type", "text"}):
                problems.append(f"{at}.{key} {no_equivalent}")
            if isinstance(block.get("text"), str):
                parts.append({"text": block["text"]})
            else:
                problems.append(f"{at}.text must be a string")
        elif btype == "image" and image is not None:
            part = _image(block, at, problems, no_equivalent, image, image_types, base64_rule)
            if part is not None:
                parts.append(part)
        else:
            shown = json.dumps(btype) if isinstance(btype, str) else "without a type"
            problems.append(f"{at}: a content block of type {shown} {no_equivalent}")
    return parts


def _image(
    block: dict[str, Any],
    at: str,
    problems: list[str],
    no_equivalent: str,
    image: ImagePart,
    image_types: Collection[str],
    base64_rule: str,
) -> dict[str, Any] | None:
    for key in sorted(set(block) - {"type", "source"}):
        problems.append(f"{at}.{key} {no_equivalent}")
    source = block.get("source")
    if not isinstance(source, dict) or source.get("type") != "base64":
        problems.append(f"{at}.source: {base64_rule}")
        return None
    media_type, data = source.get("media_type"), source.get("data")
    if not isinstance(media_type, str) or media_type not in image_types:
        problems.append(f"{at}.source.media_type must be one of {', '.join(image_types)}")
        return None
    if not isinstance(data, str) or not data:
        problems.append(f"{at}.source.data must be base64 text")
        return None
    return image(media_type, data)


_INTEGER_PARAMS = ("max_tokens", "top_k")


def sampling_config(
    params: dict[str, Any],
    names: dict[str, str],
    problems: list[str],
    *,
    wrong_type: str = "params.{key} must be {kind}",
) -> dict[str, Any]:
    """The sampling params present in ``params`` (``stop_sequences``, ``max_tokens``, ``temperature``...)
    renamed by ``names`` into a provider's config object, each checked for its type. ``wrong_type`` is
    the message of a value of the wrong type (``{key}``, ``{kind}``, and ``{name}``, the provider's field)."""
    config: dict[str, Any] = {}
    for key, name in names.items():
        if key not in params:
            continue
        value = params[key]
        if key == "stop_sequences":
            kind, ok = "an array of strings", isinstance(value, list) and all(isinstance(s, str) for s in value)
        elif key in _INTEGER_PARAMS:
            kind, ok = "an integer", isinstance(value, int) and not isinstance(value, bool)
        else:
            kind, ok = "a number", isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok:
            problems.append(wrong_type.format(key=key, kind=kind, name=name))
            continue
        config[name] = value
    return config
