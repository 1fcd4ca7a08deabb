"""Next fire times by croniter (an independent cron implementation), for the schedule tests.

Reads [{"expr", "zone", "from", "n"}] as JSON on stdin; prints a list of lists of RFC 3339
times (with offset) on stdout, one list per case, in order.
"""
import json
import sys
from datetime import datetime
import pytz
from croniter import croniter

out = []
for case in json.load(sys.stdin):
    # pytz zones, as croniter documents: with zoneinfo, croniter 6 is an hour off after a change.
    zone = pytz.timezone(case["zone"])
    start = datetime.fromisoformat(case["from"].replace("Z", "+00:00")).astimezone(zone)
    it = croniter(case["expr"], start)
    out.append([it.get_next(datetime).isoformat() for _ in range(case["n"])])
json.dump(out, sys.stdout)
