#!/usr/bin/python3
"""Qpid Proton as an independent AMQP 1.0 codec oracle for swift-amqp's tests.

  proton-oracle.py decode   hex lines on stdin -> one typed-JSON line per value
                            (a line {"error": "..."} when Proton rejects the input)
  proton-oracle.py encode   typed-JSON lines on stdin -> one hex line each (Proton's encoding)

Typed JSON is the format of `amqp codec` (see README). Floats are exchanged as exact bits.
Run with the system interpreter (/usr/bin/python3): Debian's python3-qpid-proton lives there.
"""
import json
import struct
import sys
import uuid

from proton import Data, char, decimal32, decimal64, decimal128, symbol, timestamp, ulong

TYPE_TAGS = {
    Data.NULL: "null", Data.BOOL: "bool", Data.UBYTE: "ubyte", Data.USHORT: "ushort", Data.UINT: "uint",
    Data.ULONG: "ulong", Data.BYTE: "byte", Data.SHORT: "short", Data.INT: "int", Data.LONG: "long",
    Data.FLOAT: "float", Data.DOUBLE: "double", Data.DECIMAL32: "decimal32", Data.DECIMAL64: "decimal64",
    Data.DECIMAL128: "decimal128", Data.CHAR: "char", Data.TIMESTAMP: "timestamp", Data.UUID: "uuid",
    Data.BINARY: "binary", Data.STRING: "string", Data.SYMBOL: "symbol", Data.LIST: "list", Data.MAP: "map",
    Data.ARRAY: "array", Data.DESCRIBED: "described",
}
TAG_TYPES = {v: k for k, v in TYPE_TAGS.items()}


def read_current(d, t):
    """The typed-JSON node of the value at the cursor, whose type is t."""
    tag = TYPE_TAGS[t]
    if t == Data.NULL:
        return {"t": "null"}
    if t == Data.BOOL:
        return {"t": tag, "v": bool(d.get_bool())}
    if t in (Data.UBYTE, Data.USHORT, Data.UINT, Data.ULONG, Data.BYTE, Data.SHORT, Data.INT, Data.LONG):
        return {"t": tag, "v": int(getattr(d, "get_" + tag)())}
    if t == Data.TIMESTAMP:
        return {"t": tag, "v": int(d.get_timestamp())}
    if t == Data.FLOAT:
        return {"t": tag, "bits": struct.pack(">f", d.get_float()).hex()}
    if t == Data.DOUBLE:
        return {"t": tag, "bits": struct.pack(">d", d.get_double()).hex()}
    if t == Data.DECIMAL32:
        return {"t": tag, "v": int(d.get_decimal32())}
    if t == Data.DECIMAL64:
        return {"t": tag, "v": int(d.get_decimal64())}
    if t == Data.DECIMAL128:
        return {"t": tag, "hex": bytes(d.get_decimal128()).hex()}
    if t == Data.CHAR:
        return {"t": tag, "v": str(d.get_char())}
    if t == Data.UUID:
        return {"t": tag, "v": str(d.get_uuid())}
    if t == Data.BINARY:
        return {"t": tag, "hex": bytes(d.get_binary()).hex()}
    if t == Data.STRING:
        return {"t": tag, "v": d.get_string()}
    if t == Data.SYMBOL:
        return {"t": tag, "v": str(d.get_symbol())}
    if t == Data.LIST:
        count = d.get_list()
        d.enter()
        items = [read_current(d, d.next()) for _ in range(count)]
        d.exit()
        return {"t": "list", "v": items}
    if t == Data.MAP:
        count = d.get_map()
        d.enter()
        pairs = []
        for _ in range(count // 2):
            k = read_current(d, d.next())
            v = read_current(d, d.next())
            pairs.append([k, v])
        d.exit()
        return {"t": "map", "v": pairs}
    if t == Data.ARRAY:
        count, described, elem = d.get_array()
        d.enter()
        node = {"t": "array", "elem": TYPE_TAGS[elem]}
        if described:
            node["descriptor"] = read_current(d, d.next())
        node["v"] = [read_current(d, d.next()) for _ in range(count)]
        d.exit()
        return node
    if t == Data.DESCRIBED:
        d.enter()
        desc = read_current(d, d.next())
        value = read_current(d, d.next())
        d.exit()
        return {"t": "described", "d": desc, "v": value}
    raise ValueError("unknown type %r" % t)


def put(d, node):
    t = node["t"]
    if t == "null":
        d.put_null()
    elif t == "bool":
        d.put_bool(node["v"])
    elif t in ("ubyte", "ushort", "uint", "ulong", "byte", "short", "int", "long"):
        getattr(d, "put_" + t)(int(node["v"]))
    elif t == "timestamp":
        d.put_timestamp(timestamp(int(node["v"])))
    elif t in ("float", "double"):
        if "bits" in node:
            fmt = ">f" if t == "float" else ">d"
            v = struct.unpack(fmt, bytes.fromhex(node["bits"]))[0]
        else:
            v = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}.get(node["v"], node["v"])
            v = float(v)
        (d.put_float if t == "float" else d.put_double)(v)
    elif t == "decimal32":
        d.put_decimal32(decimal32(int(node["v"])))
    elif t == "decimal64":
        d.put_decimal64(decimal64(int(node["v"])))
    elif t == "decimal128":
        d.put_decimal128(decimal128(bytes.fromhex(node["hex"])))
    elif t == "char":
        d.put_char(char(node["v"]))
    elif t == "uuid":
        d.put_uuid(uuid.UUID(node["v"]))
    elif t == "binary":
        d.put_binary(bytes.fromhex(node["hex"]))
    elif t == "string":
        d.put_string(node["v"])
    elif t == "symbol":
        d.put_symbol(symbol(node["v"]))
    elif t == "list":
        d.put_list()
        d.enter()
        for item in node["v"]:
            put(d, item)
        d.exit()
    elif t == "map":
        d.put_map()
        d.enter()
        for k, v in node["v"]:
            put(d, k)
            put(d, v)
        d.exit()
    elif t == "array":
        described = "descriptor" in node
        d.put_array(described, TAG_TYPES[node["elem"]])
        d.enter()
        if described:
            put(d, node["descriptor"])
        for item in node["v"]:
            put(d, item)
        d.exit()
    elif t == "described":
        d.put_described()
        d.enter()
        put(d, node["d"])
        put(d, node["v"])
        d.exit()
    else:
        raise ValueError("unknown type tag %r" % t)


def decode_line(line):
    data = bytes.fromhex(line)
    out = []
    while data:
        d = Data()
        n = d.decode(data)
        if n <= 0:
            raise ValueError("proton consumed %d bytes" % n)
        d.rewind()
        out.append(read_current(d, d.next()))
        data = data[n:]
    return out


def main():
    mode = sys.argv[1]
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        if mode == "decode":
            try:
                for node in decode_line(line):
                    print(json.dumps(node, ensure_ascii=False, separators=(",", ":")))
            except Exception as e:  # the oracle reports rejection instead of stopping
                print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        elif mode == "encode":
            d = Data()
            put(d, json.loads(line))
            print(d.encode().hex())
        else:
            sys.exit("usage: proton-oracle.py decode|encode")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
