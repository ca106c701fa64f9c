#!/usr/bin/env python3
"""Baseline for the pipeline benchmark: DuckDB doing "CSV -> visits -> hourly metrics" in SQL.

Usage:
    python3 scripts/bench_duckdb.py CSV [--runs 5] [--threads 2] [--tz ZONE]

CSV is an observations file as written by `footfall simulate` (columns time,sensor,mac,rssi).
Each run opens a fresh in-memory DuckDB connection, sets `threads`, and times every statement
from reading the CSV (parsing included) to the materialized hourly table, fetched into Python.
The script prints one JSON object:

    {"rows": N, "runs_s": [...], "median_s": x, "rows_per_s": y, "duckdb_version": "...",
     "threads": 2, "visits": V, "hourly_rows": H, ...}

`rows` counts every data row of the CSV (the same elements the Rust bench reports), and
`visits` is the shopper visits after the fixed/staff exclusion, the figure to compare with the
simulator's truth.json (sum of `visits` over `store_days`) and with `footfall eval`.

The SQL follows the Rust pipeline (crates/transforms: locate, sessionize, exclude, aggregate)
with the default thresholds, but it is a naive batch translation, not a port. Where it
differs from the Rust pipeline:

  * Location windows are fixed 10 s buckets aligned to the epoch (epoch_ms // 10000). Rust
    opens a device's window at that device's first frame and closes it 10 s later, so the
    two group frames differently: fixes, and hence visit starts/ends, can shift by up to 10 s
    and a few borderline visits (dwell near 120 s) or walk-bys come out differently.
    On the 2-day simulation (seed 42) both find 941 shopper visits (truth: 938), but this SQL
    counts ~8% more walk-bys than Rust (5467 vs 5058; truth 5156).
  * Ties of the strongest mean RSSI are broken arbitrarily by arg_max (Rust prefers the
    sensor listed first in site.json), and DuckDB's parallel aggregation makes the pick vary
    between runs: walk-bys and pre-exclusion visit counts can move by one or two per run.
  * Stores come from the sensor id (prefix before the first '-'), not from site.json; per-
    sensor visitor_rssi overrides of the site file are not applied (the simulator sets none).
  * No reordering / lateness: the batch sees the whole file at once, so nothing is "late".
    Rust drops observations more than 60 s older than the newest one seen (the simulator's
    files are in time order, so none are).
  * No pseudonymization: Rust replaces each MAC by a keyed BLAKE3 hash before the pipeline;
    here the MAC string itself is the device key.
  * Sessions that are still open at the end of the file are simply closed (Rust's
    `provisional()` does the same for reports; `ingest` keeps them open in its state).
  * Only hourly rows are produced (Rust also builds daily and whole-range rows, new vs
    returning devices, dwell buckets and zone metrics).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

try:
    import duckdb
except ImportError:  # pragma: no cover - message for people running it by hand
    sys.exit("bench_duckdb.py needs the duckdb package: pip install duckdb (scripts/bench does it in a venv)")

# Thresholds: the defaults of crates/transforms/src/config.rs.
WINDOW_MS = 10_000  # locate.window_s
VISITOR_RSSI = -67  # locate.visitor_rssi: inside the store of the strongest sensor
PASS_RSSI = -81  # locate.pass_rssi: near a store (walk-by candidate)
MIN_DWELL_MS = 120_000  # sessionize.min_dwell_s
IDLE_MS = 600_000  # sessionize.idle_timeout_s
FIXED_MIN_HOURS = 16  # exclude.fixed_min_hours
STAFF_MIN_MS = 5 * 3_600_000  # exclude.staff_min_hours
STAFF_MIN_DAYS = 2  # exclude.staff_min_days
STAFF_MIN_SHARE = 0.5  # exclude.staff_min_share

# The simulator always writes milliseconds and 'Z'; an explicit format is the fast path of
# DuckDB's CSV reader. Pass --timestamp-format '' to use DuckDB's generic ISO 8601 parser.
DEFAULT_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%gZ"


def sql_str(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def pipeline_sql(csv: str, tz: str, ts_format: str) -> list[str]:
    """The pipeline as a list of statements; each materializes one step as a temp table."""
    p = dict(
        csv=sql_str(csv),
        tz=sql_str(tz),
        tsfmt=f", timestampformat = {sql_str(ts_format)}" if ts_format else "",
        window=WINDOW_MS,
        visitor=VISITOR_RSSI,
        pass_=PASS_RSSI,
        dwell=MIN_DWELL_MS,
        idle=IDLE_MS,
        fixed_hours=FIXED_MIN_HOURS,
        staff_ms=STAFF_MIN_MS,
        staff_days=STAFF_MIN_DAYS,
        staff_share=STAFF_MIN_SHARE,
    )
    return [
        s.format(**p)
        for s in [
            # 1. Read and parse the CSV (explicit types, timestamps parsed), drop what Rust's
            #    plausibility filter drops (group addresses: I/G bit of the first octet set;
            #    RSSI outside [-120, 0] dBm), and reduce to one row per (device, 10 s window,
            #    sensor): mean RSSI and first/last frame. `n` keeps the frame count.
            """
            CREATE TEMP TABLE sensor_windows AS
            SELECT mac,
                   t // {window}              AS bucket,    -- fixed 10 s window (see header)
                   sensor,
                   avg(rssi)                  AS mean_rssi,
                   min(t)                     AS t0,
                   max(t)                     AS t1,
                   count(*)                   AS n
            FROM (
                SELECT epoch_ms(time) AS t, sensor, lower(mac) AS mac, rssi
                FROM read_csv({csv},
                              header = true, auto_detect = false, delim = ',',
                              columns = {{'time': 'TIMESTAMP', 'sensor': 'VARCHAR',
                                          'mac': 'VARCHAR', 'rssi': 'SMALLINT'}}{tsfmt})
                WHERE rssi BETWEEN -120 AND 0
                  AND strpos('13579bdf', lower(mac[2])) = 0   -- not a group address
            )
            GROUP BY mac, bucket, sensor
            """,
            # 2. Per (device, window): the sensor with the strongest mean RSSI.
            """
            CREATE TEMP TABLE windows AS
            SELECT mac, bucket,
                   min(t0)                          AS t0,
                   max(t1)                          AS t1,
                   arg_max(sensor, mean_rssi)       AS best_sensor,
                   max(mean_rssi)                   AS best_mean
            FROM sensor_windows
            GROUP BY mac, bucket
            """,
            # 3. Location fixes. Inside the best sensor's store when its mean >= -67 dBm;
            #    otherwise near every store whose best sensor mean >= -81 dBm. The store is the
            #    sensor id's prefix before the first '-' (s3-front -> s3).
            """
            CREATE TEMP TABLE fixes AS
            SELECT mac, split_part(best_sensor, '-', 1) AS store, t0, t1, true AS inside
            FROM windows
            WHERE best_mean >= {visitor}
            UNION ALL
            SELECT w.mac, s.store, w.t0, w.t1, false AS inside
            FROM windows w
            JOIN (SELECT mac, bucket, split_part(sensor, '-', 1) AS store, max(mean_rssi) AS m
                  FROM sensor_windows
                  GROUP BY ALL) s
              ON s.mac = w.mac AND s.bucket = w.bucket
            WHERE w.best_mean < {visitor} AND s.m >= {pass_}
            """,
            # 4. Episodes (gaps and islands): all fixes, inside or near, of one device at one
            #    store; a new episode starts when the gap since the previous fix's last frame
            #    exceeds the idle timeout (600 s).
            """
            CREATE TEMP TABLE fixes_ep AS
            SELECT *,
                   sum(new_ep) OVER (PARTITION BY mac, store ORDER BY t0
                                     ROWS UNBOUNDED PRECEDING) AS ep
            FROM (
                SELECT *,
                       CASE WHEN t0 - lag(t1) OVER (PARTITION BY mac, store ORDER BY t0) <= {idle}
                            THEN 0 ELSE 1 END AS new_ep
                FROM fixes
            )
            """,
            # 5. Inside runs (gaps and islands again, over inside fixes only, same timeout).
            #    A run never spans two episodes, so it is tagged with its episode.
            """
            CREATE TEMP TABLE runs AS
            SELECT mac, store, ep, run, min(t0) AS start_ms, max(t1) AS end_ms
            FROM (
                SELECT *,
                       sum(new_run) OVER (PARTITION BY mac, store ORDER BY t0
                                          ROWS UNBOUNDED PRECEDING) AS run
                FROM (
                    SELECT mac, store, ep, t0, t1,
                           CASE WHEN t0 - lag(t1) OVER (PARTITION BY mac, store ORDER BY t0) <= {idle}
                                THEN 0 ELSE 1 END AS new_run
                    FROM fixes_ep
                    WHERE inside
                )
            )
            GROUP BY mac, store, ep, run
            """,
            # 6. Visits: inside runs lasting at least the minimum dwell (120 s, first to last
            #    frame). Walk-bys: episodes that produced no visit (near only, or too short).
            """
            CREATE TEMP TABLE visits AS
            SELECT mac, store, ep, start_ms, end_ms
            FROM runs
            WHERE end_ms - start_ms >= {dwell}
            """,
            """
            CREATE TEMP TABLE passes AS
            SELECT e.mac, e.store, min(e.t0) AS start_ms, max(e.t1) AS end_ms
            FROM fixes_ep e
            ANTI JOIN visits v ON v.mac = e.mac AND v.store = e.store AND v.ep = e.ep
            GROUP BY e.mac, e.store, e.ep
            """,
            # 7. Who is not a shopper (crates/transforms/src/exclude.rs), from activity per
            #    device and *local* day: hours heard and first/last frame. Every 10 s window
            #    lies within one local hour (UTC offsets are multiples of 15 min), so the
            #    window table stands in for the observations.
            #    fixed: heard in >= 16 distinct local hours of some day;
            #    staff: globally unique MAC (U/L bit clear) present >= 5 h on >= 2 days and on
            #    >= half of the days it was seen.
            """
            CREATE TEMP TABLE activity AS
            SELECT mac, local_day,
                   count(DISTINCT local_hour) AS hours,
                   max(t1) - min(t0)          AS span_ms
            FROM (
                SELECT mac, t0, t1,
                       CAST(local AS DATE) AS local_day,
                       hour(local)         AS local_hour
                FROM (SELECT mac, t0, t1,
                             timezone({tz}, to_timestamp(bucket * {window} / 1000)) AS local
                      FROM windows)
            )
            GROUP BY mac, local_day
            """,
            """
            CREATE TEMP TABLE excluded AS
            SELECT mac
            FROM activity
            GROUP BY mac
            HAVING max(hours) >= {fixed_hours}
                OR (strpos('2367abef', mac[2]) = 0      -- not randomized (U/L bit clear)
                    AND count(*) FILTER (WHERE span_ms >= {staff_ms}) >= {staff_days}
                    AND count(*) FILTER (WHERE span_ms >= {staff_ms}) >= {staff_share} * count(*))
            """,
            # 8. Hourly metrics per store and for the venue ('*'), in local time: walk-ins
            #    (visits starting in the hour), walk-bys (walk-bys starting in the hour),
            #    capture rate = walk-ins / (walk-ins + walk-bys), median dwell of the visits
            #    starting in the hour, and visits present (visits overlapping the hour,
            #    walked hour by hour from the start's UTC hour, as aggregate.rs does).
            """
            CREATE TABLE hourly AS
            WITH shopper_visits AS (
                SELECT * FROM visits ANTI JOIN excluded USING (mac)
            ),
            events AS (
                SELECT store,
                       timezone({tz}, to_timestamp(start_ms / 1000)) AS local,
                       (end_ms - start_ms) / 1000.0                 AS dwell_s,
                       1 AS walk_in, 0 AS walk_by, 0 AS present
                FROM shopper_visits
                UNION ALL
                SELECT store,
                       timezone({tz}, to_timestamp(start_ms / 1000)),
                       NULL, 0, 1, 0
                FROM (SELECT * FROM passes ANTI JOIN excluded USING (mac))
                UNION ALL
                SELECT store,
                       timezone({tz}, to_timestamp(greatest(h, start_ms) / 1000)),
                       NULL, 0, 0, 1
                FROM (SELECT store, start_ms,
                             unnest(range(start_ms - start_ms % 3600000, end_ms + 1, 3600000)) AS h
                      FROM shopper_visits)
            )
            SELECT coalesce(store, '*')                                   AS store,
                   CAST(local AS DATE)                                    AS date,
                   hour(local)                                            AS hour,
                   sum(walk_in)                                           AS walk_ins,
                   sum(walk_by)                                           AS walk_bys,
                   sum(walk_in) / nullif(sum(walk_in) + sum(walk_by), 0)  AS capture_rate,
                   median(dwell_s)                                        AS median_dwell_s,
                   sum(present)                                           AS visits_present
            FROM events
            GROUP BY GROUPING SETS ((store, CAST(local AS DATE), hour(local)),
                                    (CAST(local AS DATE), hour(local)))
            ORDER BY store, date, hour
            """,
        ]
    ]


def run_once(csv: str, tz: str, ts_format: str, threads: int) -> tuple[float, duckdb.DuckDBPyConnection, list]:
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(threads)}")
    con.execute("SET TimeZone = 'UTC'")
    statements = pipeline_sql(csv, tz, ts_format)
    t = time.perf_counter()
    for s in statements:
        con.execute(s)
    result = con.execute("SELECT * FROM hourly").fetchall()
    elapsed = time.perf_counter() - t
    return elapsed, con, result


def site_timezone(csv: str) -> str:
    """The site's time zone from site.json beside the CSV (as `footfall simulate` writes it)."""
    site = os.path.join(os.path.dirname(os.path.abspath(csv)), "site.json")
    try:
        with open(site, encoding="utf-8") as f:
            return json.load(f).get("timezone") or "UTC"
    except (OSError, ValueError):
        return "UTC"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("csv", help="observations CSV (time,sensor,mac,rssi)")
    ap.add_argument("--runs", type=int, default=5, help="timed runs, each on a fresh connection (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    ap.add_argument("--tz", help="local time zone for hours and days (default: site.json beside the CSV, else UTC)")
    ap.add_argument(
        "--timestamp-format",
        default=DEFAULT_TS_FORMAT,
        help=f"read_csv timestampformat (default {DEFAULT_TS_FORMAT!r}; '' = DuckDB's generic parser)".replace("%", "%%"),
    )
    ap.add_argument("--show", action="store_true", help="also print the hourly table of the last run to stderr")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if not os.path.isfile(args.csv):
        ap.error(f"no such file: {args.csv}")
    tz = args.tz or site_timezone(args.csv)

    # Row count, untimed. It also reads the whole file once, so every timed run starts with
    # the file in the page cache (as criterion's warm-up does for the Rust side).
    con = duckdb.connect(":memory:")
    con.execute(f"SET threads = {int(args.threads)}")
    rows = con.execute(
        f"SELECT count(*) FROM read_csv({sql_str(args.csv)}, header = true, auto_detect = false, "
        "columns = {'time': 'VARCHAR', 'sensor': 'VARCHAR', 'mac': 'VARCHAR', 'rssi': 'VARCHAR'})"
    ).fetchone()[0]
    con.close()

    runs_s: list[float] = []
    last = None
    for i in range(args.runs):
        elapsed, con, result = run_once(args.csv, tz, args.timestamp_format, args.threads)
        runs_s.append(elapsed)
        print(f"run {i + 1}/{args.runs}: {elapsed:.3f} s", file=sys.stderr)
        if i == args.runs - 1:
            last = (con, result)
        else:
            con.close()

    con, result = last
    counts = con.execute(
        """
        SELECT (SELECT count(*) FROM visits ANTI JOIN excluded USING (mac)),
               (SELECT count(*) FROM passes ANTI JOIN excluded USING (mac)),
               (SELECT count(*) FROM visits),
               (SELECT count(*) FROM passes),
               (SELECT count(*) FROM excluded),
               (SELECT count(*) FROM fixes)
        """
    ).fetchone()
    if args.show:
        cols = [d[0] for d in con.execute("SELECT * FROM hourly LIMIT 0").description]
        print("\t".join(cols), file=sys.stderr)
        for r in result:
            print("\t".join("" if v is None else str(v) for v in r), file=sys.stderr)
    con.close()

    median_s = statistics.median(runs_s)
    out = {
        "rows": rows,
        "runs_s": [round(x, 4) for x in runs_s],
        "median_s": round(median_s, 4),
        "rows_per_s": round(rows / median_s) if median_s > 0 else None,
        "duckdb_version": duckdb.__version__,
        "threads": args.threads,
        "visits": counts[0],
        "hourly_rows": len(result),
        "walk_bys": counts[1],
        "visits_before_exclusion": counts[2],
        "walk_bys_before_exclusion": counts[3],
        "excluded_devices": counts[4],
        "fixes": counts[5],
        "timezone": tz,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
