"""Anthropic message content (a string, or content blocks) turned into another provider's parts,
with a problem reported for every block or key that has no equivalent there; and the sampling
params checked and renamed into a provider's config.

What differs between providers is said by a :class:`ContentRules` (the parts they build, the image
sources they take, their wording) and by the arguments of :func:`convert_blocks` (the other block
types a place takes, and what is said of a block it cannot take)."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

Part = dict[str, Any]
ImagePart = Callable[[str, str], Part]
"""Builds a provider's image part from ``(media_type, base64_data)``."""
BlockPart = Callable[[dict[str, Any], str, list[str]], Part | None]
"""Converts one block of a type the caller handles: ``(block, where, problems)`` -> a part, or ``None``."""
Refusal = Callable[[str, Any], str]
"""The problem of a block that cannot be sent: ``(where, block)`` -> message."""


def describe(value: Any) -> str:
    """A JSON value as a message shows what it got: an object, an array, or the value, shortened."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def extra_keys(
    obj: Mapping[str, Any], allowed: Collection[str], where: str, problems: list[str], no_equivalent: str
) -> None:
    """A problem ``WHERE.KEY <no_equivalent>`` for every key of ``obj`` (in its order) not in ``allowed``."""
    problems.extend(f"{where}.{key} {no_equivalent}" for key in obj if key not in allowed)


def _text_part(text: str) -> Part:
    return {"text": text}


@dataclass(frozen=True)
class ContentRules:
    """How one provider takes content blocks.

    ``no_equivalent`` ends the message of a key (or, by default, a block) it has no equivalent for.
    ``text`` builds its part for a text; ``image`` its part for base64 image data (``None``: no
    images), of one of ``image_types`` (``None``: any media type); ``image_url`` its part for an image
    by URL (``None``: none). ``source_rule`` is the message of an image source it cannot take,
    ``blocks`` what an array must hold instead of anything else, and ``says_got`` whether a message
    names the value it is about (``..., got "x"``)."""

    no_equivalent: str
    text: Callable[[str], Part] = _text_part
    image: ImagePart | None = None
    image_types: Collection[str] | None = None
    image_url: Callable[[str], Part] | None = None
    source_rule: str = ""
    blocks: str = "content blocks"
    says_got: bool = False

    def without_images(self) -> ContentRules:
        return replace(self, image=None, image_url=None)

    def _got(self, value: Any) -> str:
        return f", got {describe(value)}" if self.says_got else ""

    def _refused(self, where: str, block: Any) -> str:
        if not isinstance(block, dict):
            return f"{where} must be an object"
        btype = block.get("type")
        shown = json.dumps(btype) if isinstance(btype, str) else "without a type"
        return f"{where}: a content block of type {shown} {self.no_equivalent}"


def convert_blocks(
    content: Any,
    where: str,
    problems: list[str],
    rules: ContentRules,
    *,
    kinds: Mapping[str, BlockPart] | None = None,
    refused: Refusal | None = None,
) -> list[Part]:
    """``content`` (a string, or an array of blocks) as a provider's parts, by ``rules``.

    Text blocks, and image blocks where ``rules`` take images, are converted here; a block of a type
    in ``kinds`` by its function; any other block is a problem, worded by ``refused`` (by default:
    ``a content block of type "x" <no_equivalent>``)."""
    if isinstance(content, str):
        return [rules.text(content)]
    if not isinstance(content, list):
        problems.append(f"{where} must be a string or an array of {rules.blocks}{rules._got(content)}")
        return []
    parts: list[Part] = []
    for index, block in enumerate(content):
        at = f"{where}[{index}]"
        btype = block.get("type") if isinstance(block, dict) else None
        part: Part | None
        if btype == "text":
            part = _text(block, at, problems, rules)
        elif btype == "image" and (rules.image is not None or rules.image_url is not None):
            part = _image(block, at, problems, rules)
        elif isinstance(btype, str) and kinds and btype in kinds:
            part = kinds[btype](block, at, problems)
        else:
            problems.append((refused or rules._refused)(at, block))
            continue
        if part is not None:
            parts.append(part)
    return parts


def convert_messages(
    messages: Any, problems: list[str], rules: ContentRules, *, roles: Mapping[str, str] | None = None
) -> list[tuple[Any, list[Part]]]:
    """``params.messages`` as ``(role, parts)`` pairs, by ``rules``; a message's keys other than role
    and content are problems. ``roles``, when given, renames each role and refuses any other."""
    converted: list[tuple[Any, list[Part]]] = []
    for index, message in enumerate(messages or []):
        where = f"params.messages[{index}]"
        if not isinstance(message, dict):
            problems.append(f"{where} must be an object")
            continue
        extra_keys(message, ("role", "content"), where, problems, rules.no_equivalent)
        role = message.get("role")
        if roles is not None:
            role = roles.get(role) if isinstance(role, str) else None
            if role is None:
                problems.append(f"{where}.role must be {' or '.join(json.dumps(name) for name in roles)}")
                continue
        converted.append((role, convert_blocks(message.get("content"), f"{where}.content", problems, rules)))
    return converted


def _text(block: dict[str, Any], at: str, problems: list[str], rules: ContentRules) -> Part | None:
    extra_keys(block, ("type", "text"), at, problems, rules.no_equivalent)
    if not isinstance(block.get("text"), str):
        problems.append(f"{at}.text must be a string")
        return None
    return rules.text(block["text"])


def _image(block: dict[str, Any], at: str, problems: list[str], rules: ContentRules) -> Part | None:
    extra_keys(block, ("type", "source"), at, problems, rules.no_equivalent)
    source = block.get("source")
    fields: dict[str, Any] = source if isinstance(source, dict) else {}
    kind = fields.get("type")
    if kind == "base64" and rules.image is not None:
        media_type, data = fields.get("media_type"), fields.get("data")
        types = rules.image_types
        if not isinstance(media_type, str) or (types is not None and media_type not in types):
            allowed = "a string" if types is None else f"one of {', '.join(types)}"
            problems.append(f"{at}.source.media_type must be {allowed}")
            return None
        if not isinstance(data, str) or not data:
            problems.append(f"{at}.source.data must be base64 text")
            return None
        return rules.image(media_type, data)
    if kind == "url" and rules.image_url is not None and isinstance(fields.get("url"), str):
        return rules.image_url(fields["url"])
    problems.append(f"{at}.source: {rules.source_rule}{rules._got(kind or source)}")
    return None


_INTEGER_PARAMS = ("max_tokens", "top_k")


def sampling_config(
    params: Mapping[str, Any],
    names: Mapping[str, str],
    problems: list[str],
    *,
    wrong_type: str = "params.{key} must be {kind}",
) -> dict[str, Any]:
    """The sampling params present in ``params`` (``stop_sequences``, ``max_tokens``, ``temperature``...)
    renamed by ``names`` into a provider's config object, each checked for its type. ``wrong_type`` is
    the message of a value of the wrong type (``{key}``, ``{kind}``, ``{name}``, the provider's field,
    and ``{got}``, the value described)."""
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
            problems.append(wrong_type.format(key=key, kind=kind, name=name, got=describe(value)))
            continue
        config[name] = value
    return config
