"""Request bodies that can be produced again for each attempt."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

# --------------------------------------------------------------------------------------------
# request bodies


class Body:
    """A request body that can be produced again for each attempt.

    ``factory`` returns a fresh iterable of byte chunks; ``length`` is the total size when known
    (sent as Content-Length; otherwise the body goes chunked). ``replayable=False`` (stdin) makes
    the request ineligible for retry once the body has started to flow.
    """

    def __init__(
        self,
        factory: Callable[[], Iterable[bytes]],
        *,
        length: int | None,
        content_type: str,
        replayable: bool = True,
    ):
        self.factory = factory
        self.length = length
        self.content_type = content_type
        self.replayable = replayable


def json_body(obj: Any) -> Body:
    data = json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()
    return Body(lambda: [data], length=len(data), content_type="application/json")
