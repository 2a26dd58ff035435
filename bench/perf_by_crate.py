"""Sums a `perf report --sort dso,sym` listing by Rust crate (or kernel, libc, …).

Usage: perf report -i perf.data --no-children --comms … --sort dso,sym --stdio | python3 perf_by_crate.py
Prints each crate's share of the listed samples, largest first."""

import re
import sys

totals = {}
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not m:
        continue
    share, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()
    if kind == "k":
        name = "kernel"
    elif dso.startswith("libc") or dso.startswith("ld-linux"):
        name = "libc (malloc, memcpy, syscalls)"
    elif dso.startswith("[vdso]"):
        name = "vdso (clock)"
    else:
        ident = re.search(r"[A-Za-z_][A-Za-z0-9_]*", sym.lstrip("<&* "))
        name = ident.group(0) if ident else sym
        if name in ("core", "alloc", "std"):
            name = "std (core/alloc/std)"
    totals[name] = totals.get(name, 0.0) + share
whole = sum(totals.values()) or 1.0
for name, share in sorted(totals.items(), key=lambda kv: -kv[1])[:25]:
    print(f"{100 * share / whole:6.1f}%  {name}")
