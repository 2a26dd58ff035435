"""Turns one bench/run's raw outputs into the table of BENCHMARKS.md."""

import argparse
import json
import os
import platform
import re
import subprocess
import sys


def wrk(path):
    text = open(path).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    def latency(pct):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    return {"rps": rps, "p50": latency(50), "p99": latency(99), "non2xx": int(errors.group(1)) if errors else 0}


def run(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def cpu_split(path):
    """CPU per program during measure 1, from the last `top` sample (percent of one core)."""
    if not os.path.exists(path):
        return []
    samples = open(path).read().split("top - ")
    totals = {}
    for line in samples[-1].splitlines():
        fields = line.split()
        if len(fields) >= 12 and fields[0].isdigit():
            command = fields[11]
            try:
                cpu = float(fields[8].replace(",", "."))
            except ValueError:
                continue
            name = "postgres" if command.startswith("postgres") else command
            totals[name] = totals.get(name, 0.0) + cpu
    top = sorted(totals.items(), key=lambda kv: -kv[1])[:4]
    return ["", "CPU during measure 1 (percent of one core, of 200): "
            + ", ".join(f"{name} {cpu:.0f}" for name, cpu in top) + "."]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--rows", nargs=2, type=float)
    p.add_argument("--commits", nargs=2, type=float)
    p.add_argument("--seconds", type=float)
    p.add_argument("--argon2", type=float)
    p.add_argument("--saturated-rows", nargs=2, type=float)
    p.add_argument("--saturated-commits", nargs=2, type=float)
    p.add_argument("--saturated-seconds", type=float)
    p.add_argument("--exchanges", nargs=2, type=int)
    p.add_argument("--rss-kb", type=int)
    p.add_argument("--wave-exchanges", nargs=2, type=int)
    p.add_argument("--busy-exchanges", nargs=2, type=int)
    p.add_argument("--sizes", nargs=4, type=int)
    p.add_argument("--smoke", type=int)
    a = p.parse_args()
    out = a.out
    bare, fetch, compat, auth, big, saturated = (wrk(os.path.join(out, f"{n}.txt")) for n in ("bare", "fetch", "compat", "auth", "fetch_big", "fetch_saturated"))
    # Measure 10 is absent for a vault built before Restricted Data Tokens.
    rdt_path = os.path.join(out, "rdt.txt")
    rdt = wrk(rdt_path) if os.path.exists(rdt_path) else None
    direct, proxied = (wrk(os.path.join(out, f"{n}.txt")) for n in ("proxy_direct", "proxy_vault"))
    added = proxied["p50"] - direct["p50"]
    overhead = json.load(open(os.path.join(out, "overhead.json")))
    burst = json.load(open(os.path.join(out, "burst.json")))
    wave = json.load(open(os.path.join(out, "wave.json")))
    busy = json.load(open(os.path.join(out, "busy.json")))
    ceiling_path = os.path.join(out, "ceiling.json")
    ceiling = json.load(open(ceiling_path)) if os.path.exists(ceiling_path) else None
    wave_exchanges = a.wave_exchanges[1] - a.wave_exchanges[0]
    busy_exchanges = a.busy_exchanges[1] - a.busy_exchanges[0]
    small, big_n, hot, burst_n = a.sizes
    rows = a.rows[1] - a.rows[0]
    commits = a.commits[1] - a.commits[0]
    exchanges = a.exchanges[1] - a.exchanges[0]
    sat_rows = a.saturated_rows[1] - a.saturated_rows[0]
    sat_commits = a.saturated_commits[1] - a.saturated_commits[0]
    failures = sum(r["non2xx"] for r in (fetch, compat, auth, big, saturated, rdt, direct, proxied) if r) + (burst["requests"] - burst["ok"]) + (wave["sellers"] - wave["ok"])

    def yes(ok):
        return "met" if ok else "**missed**"

    r1, r2, r5 = fetch["rps"] / bare["rps"], compat["rps"] / bare["rps"], auth["rps"] / bare["rps"]
    r6 = big["rps"] / fetch["rps"]
    r10 = rdt["rps"] / bare["rps"] if rdt else None
    cpu = run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).strip()
    lines = [
        f"Commit `{run(['git', 'rev-parse', '--short', 'HEAD'])}`, {platform.node()}, "
        f"{os.cpu_count()} cores ({cpu}), "
        f"{run(['wrk', '--version'])}, {run(['rustc', '--version'])}, {run(['psql', '--version'])}. "
        "The load generator (wrk, 2 threads, 64 keep-alive connections), the vault and PostgreSQL share these cores."
        + (" SMOKE RUN: tiny sizes, numbers meaningless." if a.smoke else ""),
        "",
        "| # | measure | result | ratio / count | target |",
        "|---|---|---|---|---|",
        f"| 1 | cached token fetch, {small:,} sellers at random | {fetch['rps']:,.0f} req/s, p50 {fetch['p50']:.2f} ms, p99 {fetch['p99']:.2f} ms (bare route {bare['rps']:,.0f} req/s) | {r1:.2f} × bare | ≥ 0.35: {yes(r1 >= 0.35)} |",
        f"| 2 | the same through `/auth/o2/token` (form) | {compat['rps']:,.0f} req/s, p50 {compat['p50']:.2f} ms, p99 {compat['p99']:.2f} ms | {r2:.2f} × bare | ≥ 0.35: {yes(r2 >= 0.35)} |",
        f"| 3 | exchange overhead (cold fetch − emulator), median of {overhead['n']} | cold {overhead['cold_fetch_p50_ms']:.2f} ms, emulator {overhead['emulator_p50_ms']:.2f} ms | {overhead['overhead_p50_ms']:.2f} ms | ≤ 2 ms: {yes(overhead['overhead_p50_ms'] <= 2)} |",
        f"| 4 | single flight: {burst_n:,} concurrent cold requests, one seller, 3 processes | {burst['ok']:,} answered 200 | {exchanges} exchange(s) | exactly 1: {yes(exchanges == 1)} |",
        f"| 5 | one remembered key (`/v1/whoami`) vs bare route | {auth['rps']:,.0f} req/s; argon2 runs in the process: {a.argon2:.0f} | {r5:.2f} × bare | ≈ 1: {yes(r5 >= 0.9)}; one argon2 per key: {yes(a.argon2 == 1)} |",
        f"| 6 | cached fetch with {big_n:,} sellers ({hot:,} hot) vs {small:,} | {big['rps']:,.0f} req/s, p99 {big['p99']:.2f} ms; vault RSS {a.rss_kb / 1024:,.0f} MiB | {r6:.2f} × | within 10 %: {yes(r6 >= 0.9)} |",
        f"| 8 | a wave of {wave['sellers']:,} cold sellers at once, LWA at 300 ms | all served in {wave['seconds']:.2f} s; cached fetches meanwhile p99 {wave['probe_p99_ms']:.2f} ms ({wave['probe_requests']:,}) | {wave_exchanges:,} exchanges | ≤ 3 s: {yes(wave['seconds'] <= 3)}; one exchange each: {yes(wave_exchanges == wave['sellers'])}; p99 ≤ 15 ms: {yes(wave['probe_p99_ms'] <= 15)} |",
        f"| 9 | a busy seller across its token's refresh, LWA at 1 s | {busy['requests']:,} requests, slowest {busy['max_ms']:.2f} ms, p99 {busy['p99_ms']:.2f} ms | {busy_exchanges} exchange(s) | slowest ≤ 20 ms: {yes(busy['max_ms'] <= 20)} |",
        (f"| 10 | cached Restricted Data Token fetch, {small:,} sellers at random | {rdt['rps']:,.0f} req/s, p50 {rdt['p50']:.2f} ms, p99 {rdt['p99']:.2f} ms | {r10:.2f} × bare | ≈ measure 1 ({r1:.2f}): {yes(r10 >= 0.9 * r1)} |"
         if rdt else "| 10 | cached Restricted Data Token fetch | not measured: this vault has no Restricted Data Tokens | — | — |"),
        f"| 11 | SP-API proxy's added latency (cached token, one connection): getMarketplaceParticipations through the vault vs the emulator directly | through the vault p50 {proxied['p50']:.3f} ms, p99 {proxied['p99']:.3f} ms; directly p50 {direct['p50']:.3f} ms | {added:.3f} ms added (median) | ≤ 1 ms: {yes(added <= 1)} |",
        f"| 7 | audit write path during measure 1 (64 connections) | {rows / a.seconds:,.0f} delivery rows committed/s | {rows / max(commits, 1):.1f} rows per commit | — |",
        f"| 7 | audit write path at saturation (the cached fetch at 256 connections) | {sat_rows / a.saturated_seconds:,.0f} delivery rows committed/s; p50 {saturated['p50']:.2f} ms, p99 {saturated['p99']:.2f} ms | {sat_rows / max(sat_commits, 1):.1f} rows per commit | — |",
        (f"| 7 | the ceiling: the audit path alone, {ceiling['concurrency']} deliveries in flight through the vault's delivery writers with nothing in front (`bench ceiling`) | {ceiling['rows_per_second']:,.0f} delivery rows committed/s; p50 {ceiling['p50_ms']:.2f} ms, p99 {ceiling['p99_ms']:.2f} ms | {ceiling['rows_per_second'] / bare['rps']:.2f} × bare | — (measures 1 and 2 cannot pass it) |"
         if ceiling else "| 7 | the ceiling | not measured: the seeding tool predates it | — | — |"),
        "",
        f"Failed requests across the run: {failures}. Raw outputs: `{out}/`.",
    ]
    lines += cpu_split(os.path.join(out, "top-fetch.txt"))
    print("\n".join(lines))
    # What even a smoke run must get right: every request answered, one exchange for the burst,
    # one argon2 for the one key.
    if failures or exchanges != 1 or a.argon2 != 1 or wave_exchanges != wave["sellers"]:
        sys.exit(1)


main()
