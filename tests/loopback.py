"""A web server on 127.0.0.1 for the download tests (they never touch the internet), and
where the shared pretrained weights are."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The shared MobileNetV2 ImageNet weights (``../shared/weights``; the variable overrides).
SHARED_WEIGHTS = Path(
    os.environ.get(
        "FLOWERKIT_MOBILENET_V2_WEIGHTS",
        Path(__file__).resolve().parents[2]
        / "shared"
        / "weights"
        / "mobilenet_v2_1.0_224_no_top.weights.h5",
    )
)


@contextmanager
def serving(files: dict[str, bytes], requests: list[str] | None = None) -> Iterator[str]:
    """Serve ``files[path] = bytes`` (``path`` without its leading ``/``) on 127.0.0.1,
    recording each path asked for in ``requests``; yields the base URL (no ``/`` at the
    end). ``files`` may change while it serves."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if requests is not None:
                requests.append(self.path)
            body = files.get(self.path.lstrip("/"))
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
