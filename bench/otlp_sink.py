"""An OTLP/HTTP endpoint that accepts every export and keeps nothing: for measuring tracing's cost.

    taskset -c 0 python bench/otlp_sink.py --port 4318 &
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 VAULTGATE_TRACING=true \\
        taskset -c 1 .venv/bin/python bench/gateway_micro.py

Answers ``POST /v1/traces`` (any path) with 200 and an empty body after reading the request;
prints the number of exports and bytes received when stopped (SIGTERM or Ctrl-C).
"""

from __future__ import annotations

import argparse
import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

received = {"exports": 0, "bytes": 0}


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        received["bytes"] += len(self.rfile.read(length))
        received["exports"] += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=4318)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Sink)

    def stop(signum: int, frame: FrameType | None) -> None:
        print(received, file=sys.stderr)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        stop(0, None)


if __name__ == "__main__":
    main()
