#!/usr/bin/env python3
"""The local services of scripts/bench-e2e, on 127.0.0.1 only, in one process:

- a Google OAuth token endpoint (POST /token) and the GA4 Data API's runReport
  (POST /v1beta/properties/{id}:runReport), answering as the documentation shows: string
  values, YYYYMMDD dates, offset/limit paging with rowCount, the dimensions and metrics
  asked for, three channels a day over the asked date range;
- a webhook sink (POST /hook) that answers 200 and counts what it received.

    bench-e2e-mocks.py READY_FILE

Writes {"port": P} to READY_FILE once listening; GET /count answers the webhook count.
Stops on SIGTERM.
"""

import datetime
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHANNELS = ["Organic Search", "Paid Search", "Email"]
hooks = 0
hooks_lock = threading.Lock()


def run_report(req):
    r = req["dateRanges"][0]
    start = datetime.date.fromisoformat(r["startDate"])
    end = datetime.date.fromisoformat(r["endDate"])
    dims = [d["name"] for d in req.get("dimensions", [])]
    mets = [m["name"] for m in req.get("metrics", [])]
    rows = []
    day = start
    while day <= end:
        for i, ch in enumerate(CHANNELS):
            dv = [{"value": day.strftime("%Y%m%d") if d == "date" else ch} for d in dims]
            seed = day.toordinal() * 7 + i
            mv = [{"value": str(100 + (seed * (k + 3)) % 400)} for k, _ in enumerate(mets)]
            rows.append({"dimensionValues": dv, "metricValues": mv})
        day += datetime.timedelta(days=1)
    offset = int(req.get("offset", "0"))
    limit = int(req.get("limit", "10000"))
    page = rows[offset:offset + limit]
    body = {
        "dimensionHeaders": [{"name": d} for d in dims],
        "metricHeaders": [{"name": m, "type": "TYPE_INTEGER"} for m in mets],
        "rowCount": len(rows),
        "kind": "analyticsData#runReport",
    }
    if page:  # the API leaves `rows` out when there are none
        body["rows"] = page
    return body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/count":
            self.answer(200, {"hooks": hooks})
        else:
            self.answer(404, {})

    def do_POST(self):
        global hooks
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/token":
            self.answer(200, {"access_token": "ya29.bench", "expires_in": 3599, "token_type": "Bearer"})
        elif self.path.startswith("/v1beta/properties/") and self.path.endswith(":runReport"):
            self.answer(200, run_report(json.loads(body)))
        elif self.path == "/hook":
            with hooks_lock:
                hooks += 1
            self.answer(200, {"ok": True})
        else:
            self.answer(404, {"error": {"code": 404, "message": "not found", "status": "NOT_FOUND"}})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    with open(sys.argv[1] + ".tmp", "w") as f:
        json.dump({"port": server.server_address[1]}, f)
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
