#!/usr/bin/env python3
"""soak_split.py — cuts a simulated world (churnwatch simulate) into a
history and one drop folder per day, for tests/soak.sh.

usage: soak_split.py WORLD OUT DAY0 DAYS

Writes OUT/history/*.csv (everything known before DAY0 00:00 UTC) and
OUT/day/NNN/*.csv for N = 1..DAYS: the rows stamped in [DAY0+N-1, DAY0+N),
i.e. what the daily export for `run --as-of DAY0+N` brings. Rows are written
as they were known at the time, so a later day may bring a new version of a
row it already sent (re-ingest updates it):
  tickets   opened: closed_at and satisfaction empty; closed: the full row
  surveys   sent: the response fields empty; answered: the full row
  users     provisioned: deactivated_at empty; deactivated: the full row
  accounts  signed: active (seats/MRR of the last subscription change
            known); churned: the full row
Other kinds by their one timestamp; features.csv goes in the history.
Rows after the last day are left out. Python standard library only.
"""
import csv
import datetime as dt
import os
import sys

WORLD, OUT, DAY0, DAYS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
D0 = dt.date.fromisoformat(DAY0)


def slot(stamp):
    """0 for the history, 1..DAYS for a day, None after the window (or empty)."""
    if not stamp:
        return None
    d = dt.date.fromisoformat(stamp[:10])
    if d < D0:
        return 0
    n = (d - D0).days + 1
    return n if n <= DAYS else None


outs = {}  # (slot, file) -> (fh, writer)


def emit(s, name, header, row):
    if s is None:
        return
    key = (s, name)
    if key not in outs:
        d = os.path.join(OUT, "history" if s == 0 else "day/%03d" % s)
        os.makedirs(d, exist_ok=True)
        fh = open(os.path.join(d, name), "w", newline="", encoding="utf-8")
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        outs[key] = (fh, w)
    outs[key][1].writerow(row)


def rows(name):
    with open(os.path.join(WORLD, name), newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        header = next(r)
        return header, list(r)


# seats / MRR of each account's subscription changes, for the accounts rows
subs_header, subs = rows("subscriptions.csv")
si = {c: i for i, c in enumerate(subs_header)}
subs_by = {}
for r in subs:
    subs_by.setdefault(r[si["account_id"]], []).append(r)

SIMPLE = {"events.csv": "ts", "subscriptions.csv": "effective_at", "goals.csv": "start_date",
          "goal_measurements.csv": "measured_at", "journey.csv": "at",
          "trainings.csv": "completed_at"}
# file -> (opening column, closing column, columns empty until it closes)
TWO_STEP = {"tickets.csv": ("opened_at", "closed_at", ("closed_at", "satisfaction")),
            "surveys.csv": ("sent_at", "responded_at", ("responded_at", "score", "reason", "comment")),
            "users.csv": ("provisioned_at", "deactivated_at", ("deactivated_at",))}

for name in sorted(os.listdir(WORLD)):
    if not name.endswith(".csv"):
        continue
    header, data = rows(name)
    ix = {c: i for i, c in enumerate(header)}
    if name == "features.csv":
        for r in data:
            emit(0, name, header, r)
    elif name in SIMPLE:
        for r in data:
            emit(slot(r[ix[SIMPLE[name]]]), name, header, r)
    elif name in TWO_STEP:
        opened, closed, blank = TWO_STEP[name]
        for r in data:
            s1, s2 = slot(r[ix[opened]]), slot(r[ix[closed]])
            if s1 is None:
                continue
            if r[ix[closed]] and s2 == s1:
                emit(s1, name, header, r)
                continue
            early = list(r)
            for c in blank:
                early[ix[c]] = ""
            emit(s1, name, header, early)
            if r[ix[closed]]:
                emit(s2, name, header, r)
    elif name == "accounts.csv":
        for r in data:
            s1 = slot(r[ix["contract_start"]])
            if s1 is None:
                continue
            s2 = slot(r[ix["churn_date"]]) if r[ix["status"]] == "churned" else s1
            if s2 == s1:
                emit(s1, name, header, r)
                continue
            # known before the churn: active, the last subscription change before it
            early = list(r)
            last = None
            for sr in subs_by.get(r[ix["account_id"]], []):
                if sr[si["effective_at"]][:10] < r[ix["churn_date"]] and sr[si["seats"]] != "0":
                    last = sr
            early[ix["status"]] = "active"
            early[ix["churn_date"]] = ""
            early[ix["churn_reason"]] = ""
            if last is not None:
                early[ix["seats"]] = last[si["seats"]]
                early[ix["mrr_minor"]] = last[si["mrr_minor"]]
            emit(s1, name, header, early)
            emit(s2, name, header, r)
    else:
        sys.exit("soak_split.py: unknown file %s" % name)

for fh, _ in outs.values():
    fh.close()
print("history files: %d, days with files: %d" %
      (sum(1 for s, _ in outs if s == 0), len({s for s, _ in outs if s})))
