"""Gets a seller's access token from spvault through Amazon's official Python SDK, PyPI
`amzn-sp-api` (1.13.0), unmodified and without a subclass: its LWA token URL is a plain setting,
`SPAPIClient(config, oauth_endpoint=...)`. The SDK builds, sends and parses the request (a form
body, through requests) as it constructs the client.

Run with the venv install.sh made:
    tests/sdk/.cache/venv/bin/python tests/sdk/amzn_sp_api.py VAULT_URL SELLER_ID CLIENT_ID TENANT_KEY
or with no arguments and the environment variables SPVAULT_URL, SELLER_ID, CLIENT_ID, TENANT_KEY
(meanings as in python_amazon_sp_api.py).

Prints one JSON line and exits 0:
  {"ok": true, "access_token": "...", "expires_in": N}
  {"ok": false, "error_type": "LwaException", "error": null, "sdk_error_code": "...", "message": "...", "status": N}
This SDK does not expose LWA's error: it never reads the error body, and (requests' Response is
falsy for a 4xx/5xx) it reports every HTTP error as its own code "server_error" with the message
"Token request failed.". `error` is therefore null; `sdk_error_code` is what the SDK says and
`status` the HTTP status behind it (from the exception's cause). On any failure the SDK retries
three more times first, sleeping 2 + 4 + 8 s: a failed run takes about 14 s.
Exits 2 for bad usage; any other non-zero exit is a crash.
"""

import json
import logging
import os
import sys

from spapi import SPAPIClient, SPAPIConfig
from spapi.auth.lwa_exception import LwaException

logging.disable(logging.CRITICAL)  # the SDK configures INFO logging to stderr on import

NAMES = ("SPVAULT_URL", "SELLER_ID", "CLIENT_ID", "TENANT_KEY")
args = sys.argv[1:] or [os.environ.get(name, "") for name in NAMES]
if len(args) != 4 or not all(args):
    print(f"usage: {sys.argv[0]} VAULT_URL SELLER_ID CLIENT_ID TENANT_KEY "
          f"(or set {', '.join(NAMES)})", file=sys.stderr)
    sys.exit(2)
vault_url, seller_id, client_id, tenant_key = args

try:
    # --- the configuration a user needs ---------------------------------------------------------
    config = SPAPIConfig(client_id=client_id, client_secret=tenant_key, refresh_token=seller_id,
                         region="NA")
    client = SPAPIClient(config, oauth_endpoint=vault_url.rstrip("/") + "/auth/o2/token")
    # --------------------------------------------------------------------------------------------
    # SPAPIClient fetched the token while it was made; this returns the SDK's cached one.
    token = client.access_token_cache.get_lwa_access_token()
    info = client.access_token_cache.token_info  # the parsed response, plus the SDK's expires_at
    print(json.dumps({"ok": True, "access_token": token, "expires_in": info["expires_in"]}))
except LwaException as err:
    cause = getattr(err.__cause__, "response", None)
    print(json.dumps({"ok": False, "error_type": type(err).__name__, "error": None,
                      "sdk_error_code": err.error_code, "message": err.error_message,
                      "status": getattr(cause, "status_code", None)}))
except Exception as err:  # anything else the SDK raised while getting its token
    print(json.dumps({"ok": False, "error_type": type(err).__name__, "error": None,
                      "message": str(err)}))
