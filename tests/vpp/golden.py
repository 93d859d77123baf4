#!/usr/bin/env python3
"""Reference encodings for labdeck's VPP codec, computed at run time with vpp_papi 2.4.2.

The definitions are the repository's tests/data/vpp-api/core/*.api.json, loaded with
vpp_papi's own loader (VPPApiJSONFiles.load_api -> VPPMessage packers). Nothing here states an
expected byte: every byte string is produced by vpp_papi's serializer.

JSON conventions (the "format-less" shapes labdeck uses): Python bytes <-> list of numbers,
IntEnum/IntFlag -> number, namedtuple -> object keyed by the definition's field names (unions
keep every arm, as vpp_papi's union namedtuple does), non-finite f64 <-> "NaN"/"inf"/"-inf".
Decoding uses unpack(..., ntc=True): no vpp_format conversion to ipaddress/MACAddress objects.

Usage:
  golden.py vectors API_DIR          print [{name, msg_id, input, hex, decoded}] for every vector
  golden.py decode API_DIR  < JSON   [{name, hex}]            -> [{decoded} | {error}]
  golden.py encode API_DIR  < JSON   [{name, msg_id, input}]  -> [{hex} | {error}]

Exits with status 2 and a message on stderr when vpp_papi 2.4.2 is not importable.
"""

import enum
import glob
import json
import math
import os
import sys

REQUIRED_VERSION = "2.4.2"


def fail(message):
    sys.stderr.write("golden.py: " + message + "\n")
    sys.exit(2)


try:
    from importlib.metadata import version as package_version

    from vpp_papi import vpp_serializer as S
    from vpp_papi.vpp_papi import VPPApiJSONFiles
except ImportError as error:  # pragma: no cover - depends on the environment
    fail(
        "cannot import vpp_papi ({}); install the reference with "
        "`pip install vpp-papi=={}`".format(error, REQUIRED_VERSION)
    )

try:
    INSTALLED_VERSION = package_version("vpp_papi")
except Exception:  # noqa: BLE001 - any metadata failure means we cannot trust the install
    INSTALLED_VERSION = None
if INSTALLED_VERSION != REQUIRED_VERSION:
    fail(
        "vpp_papi {} is installed but the reference is {}; run "
        "`pip install vpp-papi=={}`".format(INSTALLED_VERSION, REQUIRED_VERSION, REQUIRED_VERSION)
    )


def load_messages(api_dir):
    files = sorted(glob.glob(os.path.join(api_dir, "*.api.json")))
    if not files:
        fail("no .api.json files in " + api_dir)
    _, messages, _ = VPPApiJSONFiles.load_api(apifiles=files)
    return messages


# --------------------------------------------------------------------------------------------
# JSON -> the Python values vpp_papi's pack() expects
# --------------------------------------------------------------------------------------------


def enum_number(packer, value):
    """Enum entry name, number, or list of them (OR-ed), via vpp_papi's own enum table."""
    if isinstance(value, str):
        return int(packer.enum[value])
    if isinstance(value, list):
        combined = 0
        for part in value:
            combined |= enum_number(packer, part)
        return combined
    return value


def to_papi(packer, value):
    if value is None:
        return None
    if isinstance(packer, S.VPPEnumType):
        return enum_number(packer, value)
    if isinstance(packer, S.VPPTypeAlias):
        if isinstance(value, str):
            return value  # textual address/MAC: vpp_papi converts it with vpp_format
        return to_papi(packer.packer, value)
    if isinstance(packer, S.FixedList_u8):
        return bytes(value) if isinstance(value, list) else value
    if isinstance(packer, S.FixedList):
        return [to_papi(packer.packer, item) for item in value]
    if isinstance(packer, S.VLAList):
        if packer.field_type == "u8":
            return bytes(value) if isinstance(value, list) else value
        return [to_papi(packer.packer, item) for item in value]
    if isinstance(packer, S.VLAList_legacy):
        return [to_papi(packer.packer, item) for item in value]
    if isinstance(packer, S.VPPUnionType):
        return {arm: to_papi(packer.packers[arm], v) for arm, v in value.items()}
    if isinstance(packer, S.VPPType):
        if isinstance(value, str):
            return value  # textual prefix/address: vpp_papi converts it with vpp_format
        return {
            field: to_papi(packer.packers[packer.fields.index(field)], v)
            for field, v in value.items()
        }
    if isinstance(packer, S.BaseTypes) and packer._type == "f64" and isinstance(value, str):
        return float(value)
    return value


# --------------------------------------------------------------------------------------------
# vpp_papi's unpack() output -> JSON
# --------------------------------------------------------------------------------------------


def leaf_to_json(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (enum.Enum, int)):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, (bytes, bytearray)):
        return list(value)
    if isinstance(value, str):
        return value
    raise TypeError("unexpected value {!r}".format(value))


def to_json(packer, value):
    if isinstance(packer, S.VPPTypeAlias):
        return to_json(packer.packer, value)
    if isinstance(packer, S.VPPUnionType):
        return {arm: to_json(p, v) for (arm, p), v in zip(packer.packers.items(), value)}
    if isinstance(packer, S.VPPType):
        # Field names come from the definition: namedtuple(rename=True) renames `_vl_msg_id`.
        return {
            field: to_json(p, v) for field, p, v in zip(packer.fields, packer.packers, value)
        }
    if isinstance(packer, (S.FixedList, S.VLAList, S.VLAList_legacy)) and isinstance(
        value, list
    ):
        return [to_json(packer.packer, item) for item in value]
    return leaf_to_json(value)


def field_has_default(field_definition):
    return any(isinstance(part, dict) and "default" in part for part in field_definition)


def check_no_leaked_default(packer, value, path):
    """Refuse inputs whose encoding would depend on a vpp_papi 2.4.2 side effect.

    Building a packer for a field with {"default": X} re-registers the field's alias or enum
    type globally *with* that default (VPPTypeAlias/VPPEnumType.__init__ write types[name]), so
    every message built later also defaults, e.g., a missing interface_index to 0xffffffff.
    labdeck applies a default only where the definition states it, so a vector must give such
    fields explicitly.
    """
    if not isinstance(packer, S.VPPType) or isinstance(value, str):
        return
    fields = [f for f in packer.msgdef if isinstance(f, list)]
    given = value or {}
    for field_definition, field, field_packer in zip(fields, packer.fields, packer.packers):
        where = path + "." + field
        if given.get(field) is not None:
            if isinstance(field_packer, S.VPPType):
                check_no_leaked_default(field_packer, given[field], where)
            continue
        leaked = getattr(field_packer, "options", None) or {}
        if "default" in leaked and not field_has_default(field_definition):
            fail(
                "vector leaves out {} whose vpp_papi packer carries a leaked default {!r}; "
                "give it explicitly".format(where, leaked["default"])
            )
        if isinstance(field_packer, S.VPPType):
            check_no_leaked_default(field_packer, None, where)


def encode(messages, name, msg_id, value):
    message = messages[name]
    arguments = to_papi(message, dict(value))
    arguments["_vl_msg_id"] = msg_id
    return message.pack(arguments)


def decode(messages, name, data):
    message = messages[name]
    decoded, _size = message.unpack(data, 0, None, True)
    return to_json(message, decoded)


# --------------------------------------------------------------------------------------------
# The vectors: one or more inputs per construct. Expected bytes are computed, never written.
# --------------------------------------------------------------------------------------------

CLIENT = 0x80000001


def fib_path(sw_if_index, nh_address, labels):
    label_stack = [
        {"is_uniform": i % 2, "label": 1000 + i, "ttl": 64, "exp": i % 8} for i in range(16)
    ]
    return {
        "sw_if_index": sw_if_index,
        "table_id": 0,
        "rpf_id": 0,
        "weight": 1,
        "preference": 0,
        "type": "FIB_API_PATH_TYPE_NORMAL",
        "flags": 0,
        "proto": "FIB_API_PATH_NH_PROTO_IP4",
        "nh": {
            "address": {"ip4": nh_address},
            "via_label": 0,
            "obj_id": 0xFFFFFFFF,
            "classify_table_index": 7,
        },
        "n_labels": labels,
        "label_stack": label_stack,
    }


def vectors():
    mtu4 = [1500, 9000, 1280, 0]
    return [
        # memclnt: fixed ids, fixed strings, variable arrays of typedefs.
        ("control_ping", 23, {"client_index": CLIENT, "context": 0x01020304}),
        (
            "control_ping_reply",
            24,
            {"context": 0x01020304, "retval": -5, "client_index": CLIENT, "vpe_pid": 4342},
        ),
        ("sockclnt_create", 15, {"context": 0x7C, "name": "raw_probe"}),
        (
            "sockclnt_create_reply",
            16,
            {
                "client_index": 0,
                "context": 0x7C,
                "response": 0,
                "index": CLIENT,
                "count": 2,
                "message_table": [
                    {"index": 23, "name": "control_ping_51077d14"},
                    {"index": 24, "name": "control_ping_reply_f6b0b8ca"},
                ],
            },
        ),
        ("sockclnt_delete", 17, {"client_index": CLIENT, "context": 0x4D, "index": CLIENT}),
        ("sockclnt_delete_reply", 18, {"context": 0x4D, "response": 1}),
        # u64 max, i32 negative, fixed u32 array, fixed string.
        (
            "memclnt_create",
            1,
            {
                "context": 3,
                "ctx_quota": -1,
                "input_queue": 0xFFFFFFFFFFFFFFFF,
                "name": "labdeck",
                "api_versions": [1, 2, 0xFFFFFFFF, 4, 5, 6, 7, 8],
            },
        ),
        # Variable strings.
        ("cli_inband", 0x5A, {"client_index": CLIENT, "context": 9, "cmd": "show version"}),
        (
            "cli_inband_reply",
            0x5B,
            {"context": 9, "retval": 0, "reply": "vpp v26.10-rc0~374 built by labdeck\n"},
        ),
        ("get_api_json_reply", 28, {"context": 1, "retval": 0, "json": '[{"module": "x"}]'}),
        # f64 (host byte order): default, explicit, non-finite.
        ("get_f64_endian_value", 300, {"client_index": CLIENT, "context": 1}),
        ("get_f64_endian_value", 300, {"client_index": CLIENT, "context": 2, "f64_one": -1234.5}),
        ("get_f64_endian_value", 300, {"context": 3, "f64_one": "inf"}),
        ("get_f64_increment_by_one_reply", 301, {"context": 4, "retval": 0, "f64_value": 1e300}),
        (
            "ip6_dad_enable_disable",
            302,
            {"context": 5, "dad_transmits": 3, "dad_retransmit_delay": 0.25},
        ),
        (
            "sw_interface_ip6nd_ra_details",
            303,
            {
                "context": 6,
                "sw_if_index": 1,
                "cur_hop_limit": 64,
                "adv_managed_flag": True,
                "adv_router_lifetime": 1800,
                "max_radv_interval": 600.0,
                "min_radv_interval": 198.0,
                "last_radv_time": -0.5,
                "initial_adverts_interval": 16.0,
                "n_prefixes": 2,
                "prefixes": [
                    {
                        "prefix": "2001:db8::/64",
                        "onlink_flag": True,
                        "autonomous_flag": True,
                        "val_lifetime": 86400,
                        "pref_lifetime": 14400,
                        "valid_lifetime_expires": 1.5e9,
                        "pref_lifetime_expires": "-inf",
                        "no_advertise": True,
                    },
                    {"prefix": {"address": {"af": 0, "un": {"ip4": [10, 0, 0, 0]}}, "len": 8}},
                ],
            },
        ),
        # i16, u8 variable array with its length field, defaults of several widths.
        (
            "classify_add_del_table",
            304,
            {
                "context": 7,
                "is_add": True,
                "current_data_offset": -14,
                "mask_len": 16,
                "mask": [0xFF] * 6 + [0] * 10,
            },
        ),
        # Fixed strings of several sizes.
        (
            "show_version_reply",
            305,
            {
                "context": 8,
                "retval": 0,
                "program": "vpe",
                "version": "26.10-rc0~374-gb575ec2c56d",
                "build_date": "2026-08-22T10:00:00",
                "build_directory": "/home/build/vpp" + "/deep" * 40,
            },
        ),
        # Aliases (interface_index, mac_address), enums u32, enumflags u32, fixed u32 array.
        (
            "sw_interface_details",
            306,
            {
                "context": 10,
                "sw_if_index": 1,
                "sup_sw_if_index": 1,
                "l2_address": [2, 0xFE, 0, 0, 0, 1],
                "flags": 3,
                "type": 1,
                "link_duplex": 2,
                "link_speed": 10000000,
                "link_mtu": 9000,
                "mtu": mtu4,
                "sub_id": 100,
                "sub_number_of_tags": 2,
                "sub_outer_vlan_id": 100,
                "sub_inner_vlan_id": 200,
                "sub_if_flags": ["SUB_IF_API_FLAG_TWO_TAGS", "SUB_IF_API_FLAG_EXACT_MATCH"],
                "vtr_op": 3,
                "b_dmac": "de:ad:be:ef:00:01",
                "b_smac": [0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF],
                "b_vlanid": 4095,
                "i_sid": 0xFFFFFF,
                "interface_name": "loop0",
                "interface_dev_type": "Loopback",
                "tag": "x" * 63,
            },
        ),
        (
            "sw_interface_details",
            306,
            {
                "context": 11,
                "sw_if_index": 0,
                "mtu": [0, 0, 0, 9216],  # vpp_papi cannot pack a missing non-u8 fixed array
                "flags": ["IF_STATUS_API_FLAG_ADMIN_UP"],
                "type": "IF_API_TYPE_SUB",
                "link_duplex": "LINK_DUPLEX_API_HALF",
            },
        ),
        ("create_loopback", 307, {"client_index": CLIENT, "context": 12, "mac_address": "de:ad:be:ef:00:01"}),
        ("create_loopback_reply", 308, {"context": 12, "retval": 0, "sw_if_index": 5}),
        (
            "sw_interface_set_flags",
            309,
            {"client_index": CLIENT, "context": 13, "sw_if_index": 5, "flags": "IF_STATUS_API_FLAG_ADMIN_UP"},
        ),
        ("want_interface_events", 310, {"client_index": CLIENT, "context": 14, "enable_disable": 1, "pid": 4242}),
        ("sw_interface_event", 311, {"client_index": CLIENT, "pid": 4242, "sw_if_index": 5, "flags": 3, "deleted": True}),
        # Defaults: alias with default, bool "true" default, missing var string at the end.
        ("sw_interface_dump", 312, {"client_index": CLIENT, "context": 15}),
        ("sw_interface_dump", 312, {"context": 16, "sw_if_index": 2, "name_filter_valid": True, "name_filter": "loop"}),
        ("bond_create", 313, {"context": 17}),
        ("pcap_trace_on", 314, {"context": 18, "capture_rx": True, "sw_if_index": 1, "filename": "rx.pcap"}),
        (
            "ipsec_sad_entry_update",
            315,
            {
                "context": 19,
                "sad_id": 7,
                "is_tun": True,
                "tunnel": {
                    "instance": 0xFFFFFFFF,
                    "src": "192.0.2.1",
                    "dst": "2001:db8::2",
                    "sw_if_index": 9,
                    "encap_decap_flags": ["TUNNEL_API_ENCAP_DECAP_FLAG_ENCAP_COPY_DF", 8],
                    "mode": "TUNNEL_API_MODE_MP",
                    "flags": "TUNNEL_API_FLAG_TRACK_MTU",
                    "dscp": "IP_API_DSCP_AF11",
                    "hop_limit": 255,
                },
            },
        ),
        # Unions with discriminator (address), u8 enum, textual forms vpp_format accepts.
        (
            "sw_interface_add_del_address",
            316,
            {
                "context": 20,
                "sw_if_index": 1,
                "is_add": True,
                "prefix": {"address": {"af": 0, "un": {"ip4": [10, 1, 2, 3]}}, "len": 24},
            },
        ),
        (
            "sw_interface_add_del_address",
            316,
            {
                "context": 21,
                "sw_if_index": 1,
                "is_add": True,
                "prefix": {
                    "address": {"af": "ADDRESS_IP6", "un": {"ip6": [0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [1]}},
                    "len": 128,
                },
            },
        ),
        ("sw_interface_add_del_address", 316, {"context": 22, "sw_if_index": 1, "is_add": True, "prefix": "2001:db8::1/64"}),
        ("sw_interface_add_del_address", 316, {"context": 23, "sw_if_index": 1, "del_all": True, "prefix": "10.0.0.1/8"}),
        (
            "ip_neighbor_add_del",
            317,
            {
                "context": 24,
                "is_add": True,
                "neighbor": {
                    "sw_if_index": 2,
                    "flags": ["IP_API_NEIGHBOR_FLAG_STATIC", "IP_API_NEIGHBOR_FLAG_NO_FIB_ENTRY"],
                    "mac_address": "aa:bb:cc:dd:ee:ff",
                    "ip_address": "fe80::1",
                },
            },
        ),
        (
            "sr_localsid_add_del",
            318,
            {
                "context": 25,
                "localsid": "2001:db8::100",
                "behavior": "SR_BEHAVIOR_API_DT6",
                "nh_addr": {"af": 0, "un": {"ip4": [192, 0, 2, 1]}},
            },
        ),
        ("l2fib_add_del", 319, {"context": 26, "mac": "02:00:00:00:00:07", "bd_id": 1, "sw_if_index": 3}),
        ("ip_table_add_del", 320, {"context": 27, "table": {"table_id": 5, "is_ip6": True, "name": "blue"}}),
        # Nested typedefs, a variable array of typedefs holding unions and fixed arrays of
        # typedefs, and a bool with a "true" default.
        (
            "ip_route_add_del",
            321,
            {
                "context": 28,
                "is_multipath": True,
                "route": {
                    "table_id": 0,
                    "stats_index": 9,
                    "prefix": "198.51.100.0/24",
                    "n_paths": 2,
                    "paths": [fib_path(1, [192, 0, 2, 1], 0), fib_path(2, [192, 0, 2, 2], 3)],
                },
            },
        ),
        # u32 variable array with its length field.
        (
            "sw_interface_tx_placement_details",
            322,
            {"context": 29, "sw_if_index": 4, "queue_id": 1, "shared": 1, "array_size": 3, "threads": [0, 2, 5]},
        ),
    ]


def command_vectors(messages):
    out = []
    for name, msg_id, value in vectors():
        check_no_leaked_default(messages[name], value, name)
        data = encode(messages, name, msg_id, value)
        out.append(
            {
                "name": name,
                "msg_id": msg_id,
                "input": value,
                "hex": data.hex(),
                "decoded": decode(messages, name, data),
            }
        )
    return out


def command_decode(messages, requests):
    out = []
    for request in requests:
        try:
            out.append({"decoded": decode(messages, request["name"], bytes.fromhex(request["hex"]))})
        except Exception as error:  # noqa: BLE001 - reported back to the caller
            out.append({"error": "{}: {!r}".format(type(error).__name__, error)})
    return out


def command_encode(messages, requests):
    out = []
    for request in requests:
        try:
            data = encode(messages, request["name"], request["msg_id"], request["input"])
            out.append({"hex": data.hex()})
        except Exception as error:  # noqa: BLE001 - reported back to the caller
            out.append({"error": "{}: {!r}".format(type(error).__name__, error)})
    return out


def main(argv):
    if len(argv) != 3 or argv[1] not in ("vectors", "decode", "encode"):
        fail("usage: golden.py vectors|decode|encode API_DIR")
    messages = load_messages(argv[2])
    if argv[1] == "vectors":
        result = command_vectors(messages)
    elif argv[1] == "decode":
        result = command_decode(messages, json.load(sys.stdin))
    else:
        result = command_encode(messages, json.load(sys.stdin))
    json.dump(result, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
