"""CPU seconds used so far by program (postgres, the vault, wrk, the bench tool, other), from /proc.

bench/diagnose and bench/ab take a snapshot before and after each load run, the difference
divided by the requests served being the CPU each program spent per request; bench/audit-floor
divides it by commits. Since 2026-12-01 PostgreSQL's figure includes its exited processes (the
postmaster's reaped children), which an earlier snapshot lost: a little more than before."""

import json
import os
import sys

TICK = os.sysconf("SC_CLK_TCK")


def group(comm, cmdline):
    if comm.startswith("postgres") or cmdline.startswith("postgres"):
        return "postgres"
    if "spvault" in cmdline and " serve" in cmdline:
        return "vault"
    if "examples/bench" in cmdline:
        return "bench tool"
    if "fake-lwa" in cmdline:
        return "emulator"
    if comm == "wrk":
        return "wrk"
    return "other"


def snapshot():
    totals = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open(f"/proc/{pid}/stat").read()
            cmdline = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])  # utime + stime
        name = group(comm, cmdline)
        if name == "postgres":
            # cutime + cstime: the postmaster's backends and workers that have exited (an
            # autovacuum worker, a session that ended) count in it once it has reaped them.
            ticks += int(fields[13]) + int(fields[14])
        totals[name] = totals.get(name, 0) + ticks / TICK
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    totals["idle"] = (cpu[3] + cpu[4]) / TICK
    return totals


if __name__ == "__main__":
    if len(sys.argv) == 1:
        print(json.dumps(snapshot()))
    else:  # before.json after.json requests → CPU µs per request by program
        before, after = (json.load(open(p)) for p in sys.argv[1:3])
        requests = float(sys.argv[3])
        out = {k: round((after.get(k, 0) - before.get(k, 0)) * 1e6 / requests, 1) for k in after}
        print(json.dumps(out))
