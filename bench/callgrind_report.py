"""Instructions per request from a callgrind dump: the total, each function's own, and the
inclusive cost of the vault's own functions (and the crates they call that matter).

Usage: python3 callgrind_report.py DUMP REQUESTS

Two counts are inflated under valgrind and reported apart: `rep stos`/`rep movs` string
instructions (glibc's `*_erms` memset and memcpy) count once per byte, and valgrind's CPU has no
SHA extensions, so sha2 runs its portable code (hardware SHA-256 does a block in about a tenth of
the instructions). Both are reported apart because they are not what the real CPU pays; they
move between builds only with what a build copies or zeroes (a smaller future, fewer bytes moved),
so compare builds on the total as well as on the rest."""

import collections
import re
import sys

names = {}


def name(token):
    m = re.match(r"\((\d+)\)(?: (.*))?", token)
    if m.group(2) is not None:
        names[m.group(1)] = m.group(2)
    return names.get(m.group(1), token)


own = collections.Counter()
inclusive = collections.Counter()
function = callee = pending = None
total = 0
with open(sys.argv[1], errors="replace") as dump:
    for line in dump:
        line = line.rstrip("\n")
        if line.startswith("fn="):
            function = name(line[3:])
        elif line.startswith("cfn="):
            callee = name(line[4:])
        elif line.startswith("calls="):
            pending = callee
        elif line.startswith(("summary:", "totals:")):
            total = max(total, int(line.split()[1]))
        elif line and (line[0].isdigit() or line[0] in "+-*"):
            parts = line.split()
            if len(parts) < 2:
                continue
            if pending is not None:
                inclusive[pending] += int(parts[1])
                pending = None
            else:
                own[function] += int(parts[1])

requests = int(sys.argv[2])
inflated = sum(c for f, c in own.items() if f and (f.endswith("_erms") or f.startswith("sha2::")))
print(f"instructions per request: {total / requests:,.0f}")
print(f"  of which inflated under valgrind (erms string ops, portable SHA-256): {inflated / requests:,.0f}")
print(f"  the rest: {(total - inflated) / requests:,.0f}")
print()
print("own instructions per request, largest first:")
for function, cost in own.most_common(30):
    print(f"{cost / requests:10,.0f}  {function[:150]}")
print()
print("inclusive instructions per request of the vault's functions and the crates that matter:")
wanted = re.compile(r"^(spvault::|<spvault::|serde_json::ser::|chrono::|metrics|moka::|regex::|sqlx_core::query::|actix_web::response::builder)")
shown = [(f, c) for f, c in inclusive.most_common() if wanted.search(f)]
for function, cost in shown[:45]:
    print(f"{cost / requests:10,.0f}  {function[:150]}")
