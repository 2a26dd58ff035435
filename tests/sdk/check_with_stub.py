#!/usr/bin/env python3
"""Runs every SDK driver against the stand-in server (stub_lwa_server.py), without the vault:

    bash tests/sdk/install.sh && python3 tests/sdk/check_with_stub.py [--show-requests]

For each SDK: a good seller gets a token, a revoked (unknown) seller gets the SDK's own error type
for invalid_grant, and a bad tenant key gets it for invalid_client. Prints each driver's JSON line,
then `N passed, N failed`; exits 1 if any failed. --show-requests also prints, per driver, the
token request the SDK sent (content type, user agent, body) as the stand-in saw it.
The amzn-sp-api failure cases take ~14 s each (the SDK retries every failure three times).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV_PYTHON = HERE / ".cache" / "venv" / "bin" / "python"
GOOD_SELLER = "00000000-0000-0000-0000-000000000001"
REVOKED_SELLER = "00000000-0000-0000-0000-0000000000ff"
CLIENT_ID = "amzn1.application-oa2-client.0123456789abcdef0123456789abcdef"

DRIVERS = {
    # name: (command, error type, LWA error it exposes for invalid_grant / invalid_client)
    "python-amazon-sp-api": ([str(VENV_PYTHON), str(HERE / "python_amazon_sp_api.py")],
                             "AuthorizationError", ("invalid_grant", "invalid_client")),
    "@sp-api-sdk/auth": (["node", str(HERE / "sp_api_sdk_auth.mjs")],
                         "SellingPartnerApiAuthError", ("invalid_grant", "invalid_client")),
    # Amazon's Python SDK exposes no LWA error (see amzn_sp_api.py): `error` stays null.
    "amzn-sp-api": ([str(VENV_PYTHON), str(HERE / "amzn_sp_api.py")],
                    "LwaException", (None, None)),
}


def run(command, vault, seller, key):
    done = subprocess.run(command + [vault, seller, CLIENT_ID, key], capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        return {"crashed": done.returncode, "stderr": done.stderr[-2000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def check(name, case, got, error_type, lwa_error, status):
    if case == "good":
        ok = (got.get("ok") is True and str(got.get("access_token", "")).startswith("Atza|")
              and isinstance(got.get("expires_in"), (int, float)) and got["expires_in"] > 3000)
    else:
        ok = (got.get("ok") is False and got.get("error_type") == error_type
              and got.get("error") == lwa_error
              and got.get("status", status) == status)
    print(f"{'PASS' if ok else 'FAIL'}  {name:22} {case:12} {json.dumps(got)}")
    return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--show-requests", action="store_true")
    args = parser.parse_args()
    if not VENV_PYTHON.exists():
        sys.exit("run tests/sdk/install.sh first")

    log = Path(tempfile.mkdtemp()) / "requests.jsonl"
    stub = subprocess.Popen([sys.executable, str(HERE / "stub_lwa_server.py"), "--log", str(log)],
                            stdout=subprocess.PIPE, text=True)
    try:
        vault = stub.stdout.readline().split()[-1]
        cases = [("good", GOOD_SELLER, "good-key", None),
                 ("revoked", REVOKED_SELLER, "good-key", 400),
                 ("bad-key", GOOD_SELLER, "not-the-key", 401)]
        jobs = [(name, case, seller, key, status)
                for name in DRIVERS for case, seller, key, status in cases]
        # One driver at a time per SDK (so the request log reads in order), SDKs side by side.
        def run_sdk(name):
            command = DRIVERS[name][0]
            return [(name, case, status, run(command, vault, seller, key))
                    for n, case, seller, key, status in jobs if n == name]
        with ThreadPoolExecutor(len(DRIVERS)) as pool:
            results = [r for rs in pool.map(run_sdk, DRIVERS) for r in rs]
    finally:
        stub.terminate()
        stub.wait(timeout=10)

    passed = failed = 0
    for name, case, status, got in results:
        _, error_type, (grant_error, client_error) = DRIVERS[name]
        lwa_error = grant_error if case == "revoked" else client_error
        if check(name, case, got, error_type, lwa_error, status):
            passed += 1
        else:
            failed += 1
    if args.show_requests:
        print("\nrequests the stand-in received:")
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            print(json.dumps({k: entry[k] for k in ("content_type", "user_agent", "body", "status")}))
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
