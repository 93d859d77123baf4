#!/usr/bin/env python3
"""A small stand-in for VPP's socket API, for labdeck's client integration tests.

Speaks the real transport: 16-byte >QII frame headers (with junk in q and gc_mark, which
clients must ignore), the sockclnt_create handshake with fixed ids 15/16 and a message table
built from the definitions ("<name>_<crc>" -> id, ids assigned in a shuffled order), and
sockclnt_delete followed by closing the socket. Messages are packed and unpacked with
vpp_papi 2.4.2's serializer from the repository's .api.json files.

Served: control_ping, show_version, cli_inband, sw_interface_dump (details, then the client's
control_ping ends the dump), create_loopback, sw_interface_set_flags, want_interface_events
(sw_interface_event to subscribers after each flags change), sockclnt_delete, and
get_api_json (VPP >= 24.02: every module's definitions as one JSON array string, without
memclnt and type-only modules). Like VPP, an unknown id gets no reply.

Client count: `cli_inband "show clients"` answers "clients N"; with --stats FILE the count
is also written to FILE (atomically) whenever it changes, before the sockclnt_delete reply
is sent.

Usage: peer.py SOCKET_PATH [--stats FILE] [--api-dir DIR]
Prints "ready" on stdout once listening; exits when stdin reaches end of file.
"""

import argparse
import glob
import os
import random
import socket
import struct
import sys
import threading

HEADER = struct.Struct(">QII")
FIXED_IDS = {
    "sockclnt_create": 15,
    "sockclnt_create_reply": 16,
    "sockclnt_delete": 17,
    "sockclnt_delete_reply": 18,
    "control_ping": 23,
    "control_ping_reply": 24,
    "get_api_json": 27,
    "get_api_json_reply": 28,
}

try:
    from vpp_papi.vpp_papi import VPPApiJSONFiles
except ImportError as error:  # pragma: no cover - depends on the environment
    sys.stderr.write(
        "peer.py: cannot import vpp_papi ({}); pip install vpp-papi==2.4.2\n".format(error)
    )
    sys.exit(2)


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.write_lock = threading.Lock()
        self.index = None  # client_index once registered

    def read_exact(self, size):
        chunks = []
        left = size
        while left:
            chunk = self.sock.recv(left)
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def read_frame(self):
        header = self.read_exact(HEADER.size)
        if header is None:
            return None
        _q, length, _gc_mark = HEADER.unpack(header)
        return self.read_exact(length) if length else b""

    def write_frame(self, body):
        # Junk in q and gc_mark, as VPP puts a pointer in q.
        frame = HEADER.pack(0x7F00DEADBEEF0000, len(body), 0x12345678) + body
        with self.write_lock:
            self.sock.sendall(frame)


class Interface:
    def __init__(self, sw_if_index, name, mac, dev_type):
        self.sw_if_index = sw_if_index
        self.name = name
        self.mac = mac
        self.dev_type = dev_type
        self.flags = 0


class Peer:
    def __init__(self, api_dir, stats_path):
        files = sorted(glob.glob(os.path.join(api_dir, "*.api.json")))
        if not files:
            raise SystemExit("peer.py: no .api.json files in " + api_dir)
        _, self.messages, _ = VPPApiJSONFiles.load_api(apifiles=files)
        self.ids = dict(FIXED_IDS)
        others = sorted(n for n in self.messages if n not in FIXED_IDS)
        random.Random(26).shuffle(others)
        for offset, name in enumerate(others):
            self.ids[name] = 100 + offset
        self.names_by_id = {i: n for n, i in self.ids.items()}
        self.table = [
            {"index": self.ids[n], "name": n + "_" + self.messages[n].crc[2:]}
            for n in self.messages
        ]
        random.Random(10).shuffle(self.table)
        self.api_json = self.load_api_json(files)
        self.stats_path = stats_path
        self.lock = threading.Lock()
        self.clients = {}  # client_index -> Connection
        self.subscribers = {}  # client_index -> pid
        self.interfaces = [Interface(0, "local0", bytes(6), "local")]
        self.write_stats()

    @staticmethod
    def load_api_json(files):
        """What VPP's get_api_json answers: a JSON array of its modules' definitions."""
        import json

        modules = []
        for path in files:
            with open(path) as source:
                module = json.load(source)
            if os.path.basename(path).startswith("memclnt.") or not module.get("messages"):
                continue
            modules.append(module)
        return json.dumps(modules)

    # -- bookkeeping ------------------------------------------------------------------------

    def write_stats(self):
        if not self.stats_path:
            return
        temporary = self.stats_path + ".tmp"
        with open(temporary, "w") as out:
            out.write("{}\n".format(len(self.clients)))
        os.replace(temporary, self.stats_path)

    def register(self, conn):
        with self.lock:
            slot = 1
            while (0x80000000 | slot) in self.clients:
                slot += 1
            conn.index = 0x80000000 | slot
            self.clients[conn.index] = conn
            self.write_stats()

    def unregister(self, conn):
        with self.lock:
            if conn.index is not None and self.clients.get(conn.index) is conn:
                del self.clients[conn.index]
                self.subscribers.pop(conn.index, None)
                self.write_stats()
            conn.index = None

    def send(self, conn, name, **fields):
        fields["_vl_msg_id"] = self.ids[name]
        conn.write_frame(self.messages[name].pack(fields))

    # -- serving ----------------------------------------------------------------------------

    def serve(self, sock):
        conn = Connection(sock)
        try:
            while True:
                frame = conn.read_frame()
                if frame is None or len(frame) < 2:
                    break
                (msg_id,) = struct.unpack_from(">H", frame)
                name = self.names_by_id.get(msg_id)
                handler = getattr(self, "on_" + name, None) if name else None
                if handler is None:
                    continue  # VPP sends nothing back for ids it does not serve
                request, _ = self.messages[name].unpack(frame, 0, None, True)
                if handler(conn, request) == "close":
                    break
        except OSError:
            pass
        finally:
            self.unregister(conn)
            sock.close()

    def on_sockclnt_create(self, conn, request):
        self.register(conn)
        self.send(
            conn,
            "sockclnt_create_reply",
            client_index=0,
            context=request.context,
            response=0,
            index=conn.index,
            count=len(self.table),
            message_table=self.table,
        )

    def on_sockclnt_delete(self, conn, request):
        self.unregister(conn)
        self.send(conn, "sockclnt_delete_reply", context=request.context, response=1)
        return "close"

    def on_control_ping(self, conn, request):
        self.send(
            conn,
            "control_ping_reply",
            context=request.context,
            retval=0,
            client_index=request.client_index,
            vpe_pid=os.getpid(),
        )

    def on_get_api_json(self, conn, request):
        self.send(
            conn, "get_api_json_reply", context=request.context, retval=0, json=self.api_json
        )

    def on_show_version(self, conn, request):
        self.send(
            conn,
            "show_version_reply",
            context=request.context,
            retval=0,
            program="vpe",
            version="26.10-labdeck-peer",
            build_date="2026-08-22",
            build_directory="/labdeck/peer",
        )

    def on_cli_inband(self, conn, request):
        command = request.cmd.strip()
        if command == "show clients":
            with self.lock:
                reply = "clients {}\n".format(len(self.clients))
        elif command == "show interface":
            with self.lock:
                reply = "".join("{} {}\n".format(i.name, i.sw_if_index) for i in self.interfaces)
        else:
            reply = "peer: {}\n".format(command)
        self.send(conn, "cli_inband_reply", context=request.context, retval=0, reply=reply)

    def on_sw_interface_dump(self, conn, request):
        with self.lock:
            selected = [
                i
                for i in self.interfaces
                if request.sw_if_index in (0xFFFFFFFF, i.sw_if_index)
                and (not request.name_filter_valid or request.name_filter in i.name)
            ]
        for interface in selected:
            self.send(
                conn,
                "sw_interface_details",
                context=request.context,
                sw_if_index=interface.sw_if_index,
                sup_sw_if_index=interface.sw_if_index,
                l2_address=interface.mac,
                flags=interface.flags,
                link_mtu=9000,
                mtu=[1500, 0, 0, 0],
                interface_name=interface.name,
                interface_dev_type=interface.dev_type,
            )

    def on_create_loopback(self, conn, request):
        with self.lock:
            sw_if_index = len(self.interfaces)
            mac = bytes(request.mac_address)
            if mac == bytes(6):
                mac = bytes([2, 0xFE, 0, 0, 0, sw_if_index])
            self.interfaces.append(Interface(sw_if_index, "loop{}".format(sw_if_index - 1), mac, "Loopback"))
        self.send(conn, "create_loopback_reply", context=request.context, retval=0, sw_if_index=sw_if_index)

    def on_sw_interface_set_flags(self, conn, request):
        with self.lock:
            found = [i for i in self.interfaces if i.sw_if_index == request.sw_if_index]
            if found:
                found[0].flags = int(request.flags)
            subscribers = [(self.clients[c], pid) for c, pid in self.subscribers.items() if c in self.clients]
        retval = 0 if found else -2
        self.send(conn, "sw_interface_set_flags_reply", context=request.context, retval=retval)
        if not found:
            return
        for subscriber, pid in subscribers:
            try:
                self.send(
                    subscriber,
                    "sw_interface_event",
                    client_index=subscriber.index,
                    pid=pid,
                    sw_if_index=request.sw_if_index,
                    flags=int(request.flags),
                    deleted=False,
                )
            except OSError:
                pass

    def on_want_interface_events(self, conn, request):
        with self.lock:
            if request.enable_disable:
                self.subscribers[conn.index] = request.pid
            else:
                self.subscribers.pop(conn.index, None)
        self.send(conn, "want_interface_events_reply", context=request.context, retval=0)


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("socket_path")
    parser.add_argument("--stats")
    parser.add_argument("--api-dir", default=os.path.join(here, "..", "data", "vpp-api", "core"))
    arguments = parser.parse_args()

    peer = Peer(arguments.api_dir, arguments.stats)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(arguments.socket_path)
    listener.listen(16)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=peer.serve, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main()
