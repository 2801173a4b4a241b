#!/usr/bin/env python3
"""Writes a world of churnwatch's native files (as `churnwatch simulate`
writes it) in the shapes of the vendors' exports that the built-in presets
read, for the round-trip test in tests/presets.sh:

  accounts.csv              -> hubspot-companies.csv    (HubSpot companies export)
  users.csv + events.csv    -> segment.jsonl            (Segment group, identify, track)
  tickets.csv               -> zendesk-tickets.csv      (Zendesk tickets export)
  surveys.csv (answered NPS/CSAT) -> delighted-responses.csv (Delighted responses)
  everything else           -> rest/ (native, unchanged; rest/surveys.csv holds
                               the surveys Delighted cannot: exit and unanswered)

Only the Python standard library. usage: export_shapes.py WORLD_DIR OUT_DIR
"""
import calendar
import csv
import datetime as dt
import json
import os
import shutil
import sys


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def unix(ts):
    """Native timestamp text (ISO with Z, or a date) -> Unix seconds."""
    if len(ts) == 10:
        d = dt.datetime.strptime(ts, "%Y-%m-%d")
    else:
        d = dt.datetime.strptime(ts.replace("Z", ""), "%Y-%m-%dT%H:%M:%S")
    return calendar.timegm(d.timetuple())


def zendesk_time(ts):
    """Zendesk's CSV: 2024-06-03 09:12:00 (the account's zone, here UTC)."""
    return ts.replace("T", " ").replace("Z", "") if ts else ""


def money(minor):
    """HubSpot shows currency properties as $1,234.56."""
    m = int(minor)
    return "${:,}.{:02d}".format(m // 100, m % 100)


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(os.path.join(out, "rest"), exist_ok=True)
    accounts = read(os.path.join(src, "accounts.csv"))
    users = read(os.path.join(src, "users.csv"))
    names = {a["account_id"]: a["name"] for a in accounts}
    currencies = {a["currency"] for a in accounts}
    if currencies != {"USD"}:
        sys.exit("export_shapes: the HubSpot preset assumes USD; the world has %s" % currencies)

    # HubSpot: Record ID is the account id; the contract fields are the
    # custom properties the preset reads (Segment, Seats, MRR, Customer
    # Status, Churn Date, Churn Reason, Renewal Date).
    stage = {"active": "Customer", "trial": "Opportunity", "churned": "Other", "paused": "Customer"}
    with open(os.path.join(out, "hubspot-companies.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Record ID", "Company name", "Create Date", "Lifecycle Stage", "Company owner",
                    "Segment", "Seats", "MRR", "Customer Status", "Churn Date", "Churn Reason",
                    "Renewal Date"])
        for a in accounts:
            w.writerow([a["account_id"], a["name"], a["contract_start"] + " 00:00", stage[a["status"]],
                        a["owner"], a["segment"], a["seats"], money(a["mrr_minor"]), a["status"],
                        a["churn_date"], a["churn_reason"], a["renewal_date"]])

    # Segment: per user a group call (the user joins the account) and an
    # identify call; per event a track call, with context.groupId, and for
    # account-level events an anonymousId instead of a userId.
    with open(os.path.join(out, "segment.jsonl"), "w", encoding="utf-8") as f:
        for u in users:
            at = u["provisioned_at"]
            f.write(json.dumps({"type": "group", "messageId": "grp-" + u["user_id"],
                                "userId": u["user_id"], "groupId": u["account_id"], "timestamp": at,
                                "traits": {"name": names[u["account_id"]]}}) + "\n")
            traits = {"createdAt": at}
            for k, t in (("email", "email"), ("role", "title"), ("department", "department")):
                if u[k]:
                    traits[t] = u[k]
            f.write(json.dumps({"type": "identify", "messageId": "idf-" + u["user_id"],
                                "userId": u["user_id"], "timestamp": at, "traits": traits}) + "\n")
        with open(os.path.join(src, "events.csv"), newline="", encoding="utf-8") as ev:
            for e in csv.DictReader(ev):
                call = {"type": "track", "messageId": e["event_id"], "event": e["event"],
                        "timestamp": e["ts"], "context": {"groupId": e["account_id"]},
                        "properties": {}}
                if e["user_id"]:
                    call["userId"] = e["user_id"]
                else:
                    call["anonymousId"] = "svc-" + e["account_id"]
                if e["value"]:
                    call["properties"]["value"] = float(e["value"])
                f.write(json.dumps(call) + "\n")

    # Zendesk: Organization by name, the requester by external id, the exact
    # category in a custom "Category" field beside the nearest ticket type,
    # the 1-5 satisfaction as Good (4-5) / Bad (1-2) / Offered (3) / Unoffered.
    ttype = {"introductory": "question", "advanced": "question", "bug": "incident",
             "billing": "question", "other": "task"}
    with open(os.path.join(out, "zendesk-tickets.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Id", "Requester external id", "Organization", "Ticket type", "Category",
                    "Priority", "Created at", "Solved at", "Satisfaction Score"])
        for t in read(os.path.join(src, "tickets.csv")):
            s = t["satisfaction"]
            score = ("Good" if int(s) >= 4 else "Bad" if int(s) <= 2 else "Offered") if s else "Unoffered"
            w.writerow([t["ticket_id"], t["user_id"], names[t["account_id"]], ttype[t["category"]],
                        t["category"], t["priority"], zendesk_time(t["opened_at"]),
                        zendesk_time(t["closed_at"]), score])

    # Delighted: answered NPS and CSAT responses; the account and user ids as
    # person properties; Created At in Unix seconds as Delighted's API gives it.
    emails = {u["user_id"]: u["email"] for u in users}
    rest = []
    with open(os.path.join(out, "delighted-responses.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["Response ID", "Email", "Score", "Comment", "Survey Type", "Created At",
                    "Company", "account_id", "user_id"])
        for s in read(os.path.join(src, "surveys.csv")):
            if s["type"] in ("nps", "csat") and s["responded_at"] and s["score"]:
                w.writerow([s["survey_id"], emails.get(s["user_id"], ""), s["score"], s["comment"],
                            s["type"], unix(s["responded_at"]), names[s["account_id"]],
                            s["account_id"], s["user_id"]])
            else:
                rest.append(s)
    with open(os.path.join(src, "surveys.csv"), newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    with open(os.path.join(out, "rest", "surveys.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rest)

    for kind in ("subscriptions", "features", "trainings", "goals", "goal_measurements", "journey"):
        shutil.copy(os.path.join(src, kind + ".csv"), os.path.join(out, "rest", kind + ".csv"))


if __name__ == "__main__":
    main()
