#!/usr/bin/env python3
"""vpp_papi baseline for `cargo run --release --example bench_vpp`: control_ping rates and
connect+disconnect time of the reference Python client against a socket.

Usage: vpp_papi_ping.py SOCKET API_DIR N
Prints one JSON object: sync_per_s, pipelined_per_s, construct_ms, connect_disconnect_ms.
"""

import glob
import json
import os
import sys
import time

from vpp_papi.vpp_papi import VPPApiClient


def main():
    socket_path, api_dir, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    files = sorted(glob.glob(os.path.join(api_dir, "*.api.json")))
    start = time.perf_counter()
    sync_client = VPPApiClient(apifiles=files, use_socket=True, server_address=socket_path,
                               async_thread=False, read_timeout=60)
    construct_ms = (time.perf_counter() - start) * 1000

    sync_client.connect_sync("papi-bench")
    start = time.perf_counter()
    for _ in range(n):
        sync_client.api.control_ping()
    sync_per_s = n / (time.perf_counter() - start)
    sync_client.disconnect()

    # CSIT's async style: send every request, then read the replies.
    sync_client.connect_sync("papi-bench-pipelined")
    msg = sync_client.messages["control_ping"]
    index = sync_client.transport.get_msg_index(msg.name + "_" + msg.crc[2:])
    start = time.perf_counter()
    for _ in range(n):
        sync_client._call_vpp_async(index, msg)
    for _ in range(n):
        if sync_client.read_blocking(timeout=60) is None:
            raise SystemExit("missing reply")
    pipelined_per_s = n / (time.perf_counter() - start)
    sync_client.disconnect()

    rounds = 20
    start = time.perf_counter()
    for _ in range(rounds):
        sync_client.connect_sync("papi-bench-cd")
        sync_client.disconnect()
    connect_disconnect_ms = (time.perf_counter() - start) * 1000 / rounds

    print(json.dumps({
        "sync_per_s": sync_per_s,
        "pipelined_per_s": pipelined_per_s,
        "construct_ms": construct_ms,
        "connect_disconnect_ms": connect_disconnect_ms,
    }))


if __name__ == "__main__":
    main()
