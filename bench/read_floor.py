"""The read floor (issue 7, DECISIONS.md "Benchmarks"): a whole process that only reads the
log's columns with ``pyarrow.parquet.read_table`` (no ``read_dictionary``).

    python bench/read_floor.py LOG.parquet      prints: seconds, rows and peak RSS (KB) as JSON

Time it as a whole process (``bench/run.py`` does, with /usr/bin/time): interpreter start and
imports count, as they do for ``viber-sessions invoice``.
"""

import json
import resource
import sys
import time

import pyarrow.parquet as pq

#: The six canonical columns and status (viber_sessions.load.CANONICAL).
COLUMNS = ["message_id", "timestamp", "business_id", "subscriber_id", "direction", "message_type", "status"]


def read_floor(path: str) -> dict:
    t0 = time.perf_counter()
    names = set(pq.read_schema(path).names)
    table = pq.read_table(path, columns=[c for c in COLUMNS if c in names])
    return {"seconds": time.perf_counter() - t0, "rows": table.num_rows}


if __name__ == "__main__":
    result = read_floor(sys.argv[1])
    result["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))
