#!/usr/bin/env python3
"""Generate the offline demo data set for Goalpost.

Writes three files into OUTDIR (default: config/demo under the repo root):

  campaigns.csv  one row per day x channel x campaign, 2025-10-01..2026-11-24:
                 traffic (sessions/users/new_users), funnel (leads, mqls, sqls,
                 customers), spend, revenue, impressions and clicks. Includes
                 weekly seasonality (weekends lower), a gentle upward trend, a
                 November/December bump, noise, and one Paid Social campaign
                 ("retargeting-q4") that only starts on 2026-10-20 so the
                 "too early to judge" case exists.
  email.csv      one row per email send (newsletter roughly weekly, a nurture
                 drip, a monthly product update) with sent/opened/clicked/
                 converted counts. Email sessions in campaigns.csv are driven
                 by these sends, so the two files agree with each other.
  crm.sql        SQLite script creating and filling `deals` (~400 closed
                 deals, won and lost) for the SQL-source demo. The app builds
                 a throwaway SQLite database from it at runtime.

The output is fully deterministic: every random draw comes from a single
random.Random(2026) consumed in a fixed order, only rng.random() and
rng.gauss() are used (both stable across CPython 3 versions), money is
handled in integer cents, and files are written with "\\n" line endings and
UTF-8. Running the script twice gives byte-identical files.

Usage: python3 scripts/gen_demo_data.py [OUTDIR]
Standard library only.
"""

import csv
import io
import math
import os
import random
import sys
from datetime import date, timedelta

SEED = 2026
START = date(2025, 10, 1)
END = date(2026, 11, 24)  # inclusive: "today" for the demo is 2026-11-25

CHANNELS = ["Organic Search", "Paid Search", "Paid Social", "Email", "Referral"]

# name, channel, start date, base weekday sessions, lead rate (per session),
# deal value (USD), and per-channel traffic/cost parameters.
#   ctr: clicks / impressions; cpc: cost per click (paid only)
CAMPAIGNS = [
    # Organic Search: no spend; impressions/clicks as in Search Console.
    dict(name="seo-blog", channel="Organic Search", sessions=640, lead_rate=0.0026, deal=2100, ctr=0.028),
    dict(name="seo-product-pages", channel="Organic Search", sessions=230, lead_rate=0.0062, deal=2600, ctr=0.041),
    dict(name="seo-comparison-guides", channel="Organic Search", sessions=120, lead_rate=0.0050, deal=2400, ctr=0.034),
    # Paid Search
    dict(name="brand-search", channel="Paid Search", sessions=150, lead_rate=0.0100, deal=2200, ctr=0.095, cpc=1.25),
    dict(name="generic-search", channel="Paid Search", sessions=125, lead_rate=0.0088, deal=1900, ctr=0.038, cpc=3.70),
    dict(name="competitor-search", channel="Paid Search", sessions=45, lead_rate=0.0110, deal=2500, ctr=0.024, cpc=4.60),
    # Paid Social
    dict(name="prospecting-lookalike", channel="Paid Social", sessions=290, lead_rate=0.0030, deal=1300, ctr=0.0095, cpc=1.15),
    dict(name="retargeting-always-on", channel="Paid Social", sessions=95, lead_rate=0.0085, deal=1500, ctr=0.0120, cpc=1.55),
    dict(name="retargeting-q4", channel="Paid Social", sessions=140, lead_rate=0.0080, deal=1450, ctr=0.0110, cpc=1.45,
         start=date(2026, 10, 20)),
    # Email: sessions come from email.csv sends; impressions/clicks left at 0.
    dict(name="newsletter-weekly", channel="Email", sessions=6, lead_rate=0.0140, deal=1600),
    dict(name="nurture-drip", channel="Email", sessions=4, lead_rate=0.0230, deal=1800),
    dict(name="product-updates", channel="Email", sessions=3, lead_rate=0.0110, deal=1700),
    # Referral: no spend; impressions/clicks left at 0.
    dict(name="partner-links", channel="Referral", sessions=70, lead_rate=0.0105, deal=2900),
    dict(name="affiliate-program", channel="Referral", sessions=55, lead_rate=0.0090, deal=2300),
    dict(name="review-sites", channel="Referral", sessions=40, lead_rate=0.0100, deal=2700),
]

# Funnel conversion probabilities (lead -> mql -> sql -> customer).
MQL_RATE = {"Organic Search": 0.46, "Paid Search": 0.50, "Paid Social": 0.38, "Email": 0.55, "Referral": 0.58}
SQL_RATE = {"Organic Search": 0.40, "Paid Search": 0.42, "Paid Social": 0.33, "Email": 0.40, "Referral": 0.47}
WIN_RATE = {"Organic Search": 0.30, "Paid Search": 0.28, "Paid Social": 0.22, "Email": 0.30, "Referral": 0.36}

# Day-of-week multipliers, Monday first. B2B traffic drops at weekends;
# paid social holds up better.
WEEKDAY = [1.00, 1.05, 1.04, 1.00, 0.90, 0.58, 0.55]
WEEKDAY_SOCIAL = [1.00, 1.02, 1.02, 1.00, 0.95, 0.82, 0.80]

CAMPAIGNS_HEADER = ["date", "channel", "campaign", "sessions", "users", "new_users", "leads", "mqls",
                    "sqls", "customers", "spend", "revenue", "impressions", "clicks"]
EMAIL_HEADER = ["date", "campaign", "emails_sent", "emails_opened", "email_clicks", "email_conversions"]


# --------------------------------------------------------------------------- helpers

def days(start, end):
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


def poisson(rng, lam):
    """Poisson draw: Knuth for small lambda, rounded normal otherwise."""
    if lam <= 0:
        return 0
    if lam < 30:
        limit = math.exp(-lam)
        k, p = 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))


def binomial(rng, n, p):
    if n <= 0 or p <= 0:
        return 0
    if n <= 200:
        return sum(1 for _ in range(n) if rng.random() < p)
    mean = n * p
    sd = math.sqrt(n * p * (1 - p))
    return min(n, max(0, int(round(rng.gauss(mean, sd)))))


def noise(rng, sigma):
    """Multiplicative log-normal noise with median 1."""
    return math.exp(rng.gauss(0.0, sigma))


def uniform(rng, lo, hi):
    return lo + (hi - lo) * rng.random()


def cents(x):
    return int(round(x * 100))


def money(c):
    """Format integer cents as a 2-decimal string without float artefacts."""
    sign = "-" if c < 0 else ""
    c = abs(c)
    return "%s%d.%02d" % (sign, c // 100, c % 100)


def season(d):
    """Trend x Nov/Dec bump x holiday dip, shared by every campaign."""
    span = (END - START).days
    trend = 1.0 + 0.26 * (d - START).days / span
    bump = {11: 1.15, 12: 1.20}.get(d.month, 1.0)
    if (d.month, d.day) in {(12, 24), (12, 25), (12, 26), (12, 31), (1, 1)}:
        bump *= 0.55
    return trend * bump


# --------------------------------------------------------------------------- email sends

def gen_email_sends(rng):
    """Return a sorted list of send dicts: date, campaign, sent, opened, clicks, conversions."""
    span = (END - START).days
    sends = []
    for d in days(START, END):
        t = (d - START).days / span
        holiday = (d.month == 12 and d.day >= 22) or (d.month == 1 and d.day <= 2)
        list_size = 8200 + 3300 * t  # subscriber list grows over the period
        # newsletter-weekly: Tuesdays, occasionally skipped, paused over the holidays.
        if d.weekday() == 1 and not holiday and rng.random() > 0.06:
            sent = int(list_size * uniform(rng, 0.965, 0.995))
            sends.append(make_send(rng, d, "newsletter-weekly", sent, (0.22, 0.30), (0.11, 0.16), (0.03, 0.06)))
        # nurture-drip: Thursdays, skipped more often, smaller engaged audience.
        if d.weekday() == 3 and not holiday and rng.random() > 0.18:
            sent = int((1300 + 900 * t) * uniform(rng, 0.85, 1.15))
            sends.append(make_send(rng, d, "nurture-drip", sent, (0.29, 0.35), (0.15, 0.20), (0.06, 0.10)))
        # product-updates: first Wednesday of the month to the full list.
        if d.weekday() == 2 and d.day <= 7:
            sent = int(list_size * uniform(rng, 0.98, 1.0))
            sends.append(make_send(rng, d, "product-updates", sent, (0.20, 0.26), (0.10, 0.14), (0.02, 0.04)))
    return sends


def make_send(rng, d, campaign, sent, open_rng, click_rng, conv_rng):
    opened = int(round(sent * uniform(rng, *open_rng)))
    clicks = int(round(opened * uniform(rng, *click_rng)))
    conversions = binomial(rng, clicks, uniform(rng, *conv_rng))
    return dict(date=d, campaign=campaign, sent=sent, opened=opened, clicks=clicks, conversions=conversions)


def email_sessions_by_day(sends):
    """Sessions driven by sends: most on the send day, a tail on the next two days."""
    out = {}
    for s in sends:
        for lag, share in ((0, 0.80), (1, 0.22), (2, 0.07)):
            key = (s["date"] + timedelta(days=lag), s["campaign"])
            out[key] = out.get(key, 0.0) + s["clicks"] * share
    return out


# --------------------------------------------------------------------------- campaigns

def gen_campaign_rows(rng, sends):
    email_sessions = email_sessions_by_day(sends)
    email_spend = {}
    for s in sends:
        # ESP cost: roughly $1.20-$1.80 per thousand emails sent.
        key = (s["date"], s["campaign"])
        email_spend[key] = email_spend.get(key, 0) + cents(s["sent"] * uniform(rng, 0.0012, 0.0018))

    rows = []
    for d in days(START, END):
        market = noise(rng, 0.06)  # day-level shock shared by all campaigns
        base = season(d) * market
        for c in CAMPAIGNS:
            start = c.get("start", START)
            if d < start:
                continue
            ch = c["channel"]
            ramp = min(1.0, 0.35 + 0.13 * (d - start).days) if "start" in c else 1.0
            weekday = (WEEKDAY_SOCIAL if ch == "Paid Social" else WEEKDAY)[d.weekday()]

            expected = c["sessions"] * base * weekday * ramp * noise(rng, 0.12)
            if ch == "Email":
                expected += email_sessions.get((d, c["name"]), 0.0) * noise(rng, 0.05)
            sessions = max(0, int(round(expected)))

            users = int(round(sessions * uniform(rng, 0.78, 0.90)))
            new_share = {"Email": (0.05, 0.12), "Paid Social": (0.55, 0.80)}.get(ch, (0.45, 0.68))
            if c["name"].startswith("retargeting"):
                new_share = (0.10, 0.25)
            new_users = int(round(users * uniform(rng, *new_share)))

            leads = poisson(rng, sessions * c["lead_rate"])
            mqls = binomial(rng, leads, MQL_RATE[ch])
            sqls = binomial(rng, mqls, SQL_RATE[ch])
            customers = binomial(rng, sqls, WIN_RATE[ch])

            deal_cents = cents(c["deal"] * noise(rng, 0.18))
            revenue = customers * deal_cents

            impressions = clicks = 0
            spend = 0
            if ch in ("Paid Search", "Paid Social"):
                clicks = int(round(sessions * uniform(rng, 1.04, 1.18)))
                impressions = int(round(clicks / (c["ctr"] * noise(rng, 0.10))))
                spend = cents(clicks * c["cpc"] * noise(rng, 0.08))
            elif ch == "Organic Search":
                clicks = int(round(sessions * uniform(rng, 0.90, 1.02)))
                impressions = int(round(clicks / (c["ctr"] * noise(rng, 0.10))))
            elif ch == "Email":
                spend = email_spend.get((d, c["name"]), 0)
            impressions = max(impressions, clicks)

            rows.append([d.isoformat(), ch, c["name"], sessions, users, new_users, leads, mqls, sqls,
                         customers, money(spend), money(revenue), impressions, clicks])
    return rows


# --------------------------------------------------------------------------- crm deals

DEAL_COUNT = 400
DEAL_CHANNEL_WEIGHTS = [("Organic Search", 0.27), ("Paid Search", 0.28), ("Paid Social", 0.15),
                        ("Email", 0.11), ("Referral", 0.19)]
DEAL_MEDIAN = {"Organic Search": 2300, "Paid Search": 2100, "Paid Social": 1400, "Email": 1700, "Referral": 2900}
DEAL_WON_P = {"Organic Search": 0.34, "Paid Search": 0.31, "Paid Social": 0.24, "Email": 0.33, "Referral": 0.42}


def weighted_pick(rng, items, weights, total):
    x = rng.random() * total
    acc = 0.0
    for item, w in zip(items, weights):
        acc += w
        if x < acc:
            return item
    return items[-1]


def gen_deals(rng):
    all_days = list(days(START, END))
    # Deals close on working days mostly, more of them later and at month end.
    day_w = []
    for d in all_days:
        w = season(d) * (1.0 if d.weekday() < 5 else 0.12)
        if (d + timedelta(days=3)).month != d.month:
            w *= 1.6
        day_w.append(w)
    day_total = sum(day_w)
    chans = [c for c, _ in DEAL_CHANNEL_WEIGHTS]
    chan_w = [w for _, w in DEAL_CHANNEL_WEIGHTS]
    chan_total = sum(chan_w)

    deals = []
    for _ in range(DEAL_COUNT):
        d = weighted_pick(rng, all_days, day_w, day_total)
        ch = weighted_pick(rng, chans, chan_w, chan_total)
        won = 1 if rng.random() < DEAL_WON_P[ch] else 0
        amount = cents(DEAL_MEDIAN[ch] * noise(rng, 0.45))
        amount = max(amount, 25000)  # smallest plan: $250
        dtc = int(round(38 * noise(rng, 0.55) * (1.0 if won else 0.85)))
        dtc = min(180, max(2, dtc))
        deals.append((d, ch, won, amount, dtc))
    deals.sort(key=lambda r: (r[0], r[1], -r[2], r[3], r[4]))
    return deals


def render_crm_sql(deals):
    out = io.StringIO()
    out.write("-- Goalpost demo CRM data (SQLite). Generated by scripts/gen_demo_data.py; do not edit.\n")
    out.write("-- %d closed deals, %s..%s. won: 1 = closed-won, 0 = closed-lost.\n"
              % (len(deals), START.isoformat(), END.isoformat()))
    out.write("DROP TABLE IF EXISTS deals;\n")
    out.write("CREATE TABLE deals (\n"
              "    closed_on TEXT NOT NULL,\n"
              "    channel TEXT NOT NULL,\n"
              "    won INTEGER NOT NULL,\n"
              "    amount REAL NOT NULL,\n"
              "    days_to_close INTEGER NOT NULL\n"
              ");\n")
    chunk = 100
    for i in range(0, len(deals), chunk):
        out.write("INSERT INTO deals (closed_on, channel, won, amount, days_to_close) VALUES\n")
        part = deals[i:i + chunk]
        lines = ["('%s','%s',%d,%s,%d)" % (d.isoformat(), ch, won, money(amt), dtc)
                 for d, ch, won, amt, dtc in part]
        out.write(",\n".join(lines))
        out.write(";\n")
    return out.getvalue()


# --------------------------------------------------------------------------- output

def csv_text(header, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def write(path, text):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def main(argv):
    if len(argv) > 2 or (len(argv) == 2 and argv[1] in ("-h", "--help")):
        print(__doc__.strip())
        return 0 if len(argv) == 2 else 2
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outdir = os.path.abspath(argv[1]) if len(argv) == 2 else os.path.join(repo_root, "config", "demo")
    os.makedirs(outdir, exist_ok=True)

    rng = random.Random(SEED)
    sends = gen_email_sends(rng)
    rows = gen_campaign_rows(rng, sends)
    deals = gen_deals(rng)

    email_rows = [[s["date"].isoformat(), s["campaign"], s["sent"], s["opened"], s["clicks"], s["conversions"]]
                  for s in sends]
    write(os.path.join(outdir, "campaigns.csv"), csv_text(CAMPAIGNS_HEADER, rows))
    write(os.path.join(outdir, "email.csv"), csv_text(EMAIL_HEADER, email_rows))
    write(os.path.join(outdir, "crm.sql"), render_crm_sql(deals))

    shown = os.path.relpath(outdir, repo_root) if outdir.startswith(repo_root + os.sep) else outdir
    print("gen_demo_data: wrote %s: campaigns.csv (%d rows), email.csv (%d sends), crm.sql (%d deals), %s..%s, seed %d"
          % (shown, len(rows), len(email_rows), len(deals), START.isoformat(), END.isoformat(), SEED))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
