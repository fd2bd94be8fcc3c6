"""The multipart reader of the emulator (``emulator/multipart.py``)."""

from __future__ import annotations

import io

from bifrost_cli.emulator.multipart import MultipartReader


def test_multipart_boundary_across_tiny_chunks():
    boundary = b"b0und"
    body = (b"--b0und\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            b"--b0und\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x\"\r\n\r\n"
            b"data\r\n--b0un almost\r\n--b0und--\r\n")
    for size in (1, 2, 3, 5, 7, 64):
        parts = [(p.name, p.filename, p.read()) for p in MultipartReader(io.BytesIO(body), boundary, read_size=size)]
        assert parts == [("purpose", None, b"batch"), ("file", "x", b"data\r\n--b0un almost")], size
