#!/usr/bin/env python3
"""A stand-in for spvault's LWA-compatible endpoint (`POST /auth/o2/token`, see the README's
"Using spvault from your SDK"), for checking the SDK drivers without building the vault.
Standard library only.

    python3 tests/sdk/stub_lwa_server.py [--port 0] [--expires-in 3600] [--log FILE]

Prints `listening on http://127.0.0.1:PORT` as its first line (port 0 picks a free one), then
serves `POST /auth/o2/token` until killed:

- body `application/json`, or a form parsed leniently: values that were not URL-encoded (a raw
  `|`, as Amazon's own JavaScript helper sends them) are taken as they are;
- `client_secret` must be `good-key`, else `401 invalid_client`;
- `grant_type=refresh_token` with `refresh_token` = GOOD_SELLER succeeds; any other seller id is
  `400 invalid_grant` (unknown or revoked seller);
- anything else is `400 invalid_request` / `unsupported_grant_type`, `404` for other paths.

Success: `200 {"access_token", "refresh_token", "token_type": "bearer", "expires_in"}` with
`Cache-Control: no-store`. Errors: LWA's `{"error", "error_description"}`.

Each request is logged as one JSON line (method, path, content type, user agent, the raw body
and the fields parsed from it) to stderr, or to --log FILE: it shows how each SDK builds its
token request.
"""

import argparse
import itertools
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, unquote_plus

GOOD_KEY = "good-key"
GOOD_SELLER = "00000000-0000-0000-0000-000000000001"
TOKEN_PATH = "/auth/o2/token"

_counter = itertools.count(1)


def parse_form(raw: str) -> dict:
    """`a=b&c=d`, decoding %XX (and `+` as a space) only where the value looks URL-encoded."""
    fields = {}
    for pair in raw.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        # A raw value (no %XX escapes) is kept as sent, `+` included; an encoded one is decoded.
        if "%" in value:
            value = unquote_plus(value)
        fields[unquote(name)] = value
    return fields


def parse_body(content_type: str, raw: bytes):
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type or text.lstrip().startswith("{"):
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("JSON body is not an object")
        return "json", {k: v for k, v in value.items()}
    return "form", parse_form(text)


def token_response(fields: dict, expires_in: int):
    """(status, body) for one token request, as the vault answers it."""
    grant_type = fields.get("grant_type")
    if not grant_type:
        return 400, {"error": "invalid_request", "error_description": "grant_type is missing"}
    if grant_type not in ("refresh_token", "client_credentials"):
        return 400, {"error": "unsupported_grant_type",
                     "error_description": f"grant_type {grant_type!r} is not supported"}
    for name in ("client_id", "client_secret"):
        if not fields.get(name):
            return 400, {"error": "invalid_request", "error_description": f"{name} is missing"}
    if fields["client_secret"] != GOOD_KEY:
        return 401, {"error": "invalid_client",
                     "error_description": "Client authentication failed"}
    if grant_type == "client_credentials":
        return 400, {"error": "invalid_scope",
                     "error_description": "the stand-in serves no grantless tokens"}
    seller = fields.get("refresh_token")
    if not seller:
        return 400, {"error": "invalid_request", "error_description": "refresh_token is missing"}
    if seller != GOOD_SELLER:
        return 400, {"error": "invalid_grant",
                     "error_description": "The request has an invalid grant parameter : "
                                          "refresh_token"}
    return 200, {"access_token": f"Atza|stub-token-{next(_counter)}", "refresh_token": seller,
                 "token_type": "bearer", "expires_in": expires_in}


class Handler(BaseHTTPRequestHandler):
    server_version = "spvault-stub/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # the JSON request log replaces the default access log
        pass

    def _send(self, status: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def _log(self, **entry):
        line = json.dumps(entry)
        if self.server.log_file:
            with open(self.server.log_file, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        else:
            print(line, file=sys.stderr, flush=True)

    def do_GET(self):
        self._send(404, {"error": "invalid_request", "error_description": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        content_type = self.headers.get("Content-Type", "")
        entry = {"method": "POST", "path": self.path, "content_type": content_type,
                 "user_agent": self.headers.get("User-Agent"),
                 "body": raw.decode("utf-8", errors="replace")}
        if self.path.split("?")[0] != TOKEN_PATH:
            status, body = 404, {"error": "invalid_request", "error_description": "not found"}
        else:
            try:
                entry["format"], fields = parse_body(content_type, raw)
                entry["fields"] = fields
                status, body = token_response(fields, self.server.expires_in)
            except ValueError as err:  # json.JSONDecodeError is a ValueError
                status, body = 400, {"error": "invalid_request",
                                     "error_description": f"unreadable body: {err}"}
        entry["status"] = status
        entry["response_error"] = body.get("error")
        self._log(**entry)
        self._send(status, body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--log", help="append the JSON request log here instead of stderr")
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.expires_in = args.expires_in
    server.log_file = args.log
    host, port = server.server_address[:2]
    print(f"listening on http://{host}:{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
