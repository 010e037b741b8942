"""The floor of a billing run (issue 4): read the log's columns, encode the message, business and
subscriber ids, and order the rows by conversation and time, each with the plainest fast call.

    python bench/floor.py LOG      prints: seconds and peak RSS (KB) as JSON
"""

import json
import resource
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

COLUMNS = ["message_id", "timestamp", "business_id", "subscriber_id", "direction", "message_type"]


def floor(path: str) -> dict:
    t0 = time.perf_counter()
    if path.endswith(".parquet"):
        table = pq.read_table(path, columns=COLUMNS)
    else:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(include_columns=COLUMNS))
    codes = {}
    for name in ("message_id", "business_id", "subscriber_id"):
        codes[name] = pc.dictionary_encode(table.column(name).combine_chunks()).indices.to_numpy()
    ts = table.column("timestamp").combine_chunks().cast(pa.int64()).to_numpy() if pa.types.is_timestamp(
        table.column("timestamp").type) else pc.cast(table.column("timestamp"), pa.timestamp("ns", "UTC")).cast(
        pa.int64()).to_numpy()
    conv = codes["business_id"].astype(np.int64) * (int(codes["subscriber_id"].max()) + 1) + codes["subscriber_id"]
    order = np.lexsort((ts, conv))
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "rows": table.num_rows, "checksum": int(order[: 1000].sum())}


if __name__ == "__main__":
    result = floor(sys.argv[1])
    result["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))
