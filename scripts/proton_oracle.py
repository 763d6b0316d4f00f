#!/usr/bin/python3
"""Qpid Proton as an independent AMQP 1.0 codec for the cross-implementation tests.

Reads requests from the file named by argv[1], one per line, and prints one answer per line:
  decode HEX   -> the value Proton decodes from the bytes, as canonical JSON
  encode JSON  -> the bytes Proton encodes for the value, as hex
A value is {"t": type, "v": value} (integers as decimal strings, binary and uuid as hex,
lists as arrays, maps as [[key, value], ...]), {"t": "array", "e": element type, "v": [...]},
or {"t": "described", "d": descriptor, "v": value}. Canonical JSON: sorted keys, no spaces,
ASCII only. Any failure prints "error ..." for that line; a missing Proton exits non-zero.
"""
import json
import sys
import uuid

from proton import Data, symbol, timestamp, ubyte, ushort, uint, ulong, byte, short, int32

SCALARS = {
    Data.UBYTE: ("ubyte", "get_ubyte"), Data.USHORT: ("ushort", "get_ushort"),
    Data.UINT: ("uint", "get_uint"), Data.ULONG: ("ulong", "get_ulong"),
    Data.BYTE: ("byte", "get_byte"), Data.SHORT: ("short", "get_short"),
    Data.INT: ("int", "get_int"), Data.LONG: ("long", "get_long"),
    Data.TIMESTAMP: ("timestamp", "get_timestamp"),
}
TYPE_CODES = {name: code for code, (name, _) in SCALARS.items()}
TYPE_CODES.update({"null": Data.NULL, "boolean": Data.BOOL, "uuid": Data.UUID, "binary": Data.BINARY,
                   "string": Data.STRING, "symbol": Data.SYMBOL, "list": Data.LIST, "map": Data.MAP,
                   "array": Data.ARRAY, "described": Data.DESCRIBED})
NAMES = {code: name for name, code in TYPE_CODES.items()}


def read(d):
    t = d.type()
    if t == Data.NULL:
        return {"t": "null"}
    if t == Data.BOOL:
        return {"t": "boolean", "v": bool(d.get_bool())}
    if t in SCALARS:
        name, getter = SCALARS[t]
        return {"t": name, "v": str(int(getattr(d, getter)()))}
    if t == Data.UUID:
        return {"t": "uuid", "v": d.get_uuid().hex}
    if t == Data.BINARY:
        return {"t": "binary", "v": bytes(d.get_binary()).hex()}
    if t == Data.STRING:
        return {"t": "string", "v": d.get_string()}
    if t == Data.SYMBOL:
        return {"t": "symbol", "v": str(d.get_symbol())}
    if t == Data.DESCRIBED:
        d.enter()
        d.next()
        descriptor = read(d)
        d.next()
        value = read(d)
        d.exit()
        return {"t": "described", "d": descriptor, "v": value}
    if t == Data.LIST:
        count = d.get_list()
        d.enter()
        items = []
        for _ in range(count):
            d.next()
            items.append(read(d))
        d.exit()
        return {"t": "list", "v": items}
    if t == Data.MAP:
        count = d.get_map()
        d.enter()
        pairs = []
        for _ in range(count // 2):
            d.next()
            key = read(d)
            d.next()
            pairs.append([key, read(d)])
        d.exit()
        return {"t": "map", "v": pairs}
    if t == Data.ARRAY:
        count, described, element = d.get_array()
        if described:
            raise ValueError("described arrays are not used by these tests")
        d.enter()
        items = []
        for _ in range(count):
            d.next()
            items.append(read(d))
        d.exit()
        return {"t": "array", "e": NAMES[element], "v": items}
    raise ValueError("type %r is not used by these tests" % t)


def write(d, node):
    t = node["t"]
    v = node.get("v")
    if t == "null":
        d.put_null()
    elif t == "boolean":
        d.put_bool(v)
    elif t in TYPE_CODES and TYPE_CODES[t] in SCALARS:
        getattr(d, "put_" + t)(int(v))
    elif t == "uuid":
        d.put_uuid(uuid.UUID(hex=v))
    elif t == "binary":
        d.put_binary(bytes.fromhex(v))
    elif t == "string":
        d.put_string(v)
    elif t == "symbol":
        d.put_symbol(symbol(v))
    elif t == "described":
        d.put_described()
        d.enter()
        write(d, node["d"])
        write(d, v)
        d.exit()
    elif t == "list":
        d.put_list()
        d.enter()
        for item in v:
            write(d, item)
        d.exit()
    elif t == "map":
        d.put_map()
        d.enter()
        for key, value in v:
            write(d, key)
            write(d, value)
        d.exit()
    elif t == "array":
        d.put_array(False, TYPE_CODES[node["e"]])
        d.enter()
        for item in v:
            write(d, item)
        d.exit()
    else:
        raise ValueError("cannot encode %r" % t)


def answer(line):
    verb, _, argument = line.partition(" ")
    if verb == "decode":
        d = Data()
        raw = bytes.fromhex(argument)
        consumed = d.decode(raw)
        if consumed != len(raw):
            raise ValueError("decoded %d of %d bytes" % (consumed, len(raw)))
        d.rewind()
        d.next()
        return json.dumps(read(d), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    if verb == "encode":
        d = Data()
        write(d, json.loads(argument))
        return d.encode().hex()
    raise ValueError("unknown request %r" % verb)


def main():
    with open(sys.argv[1]) as requests:
        for line in requests:
            line = line.rstrip("\n")
            try:
                print(answer(line))
            except Exception as e:  # one bad value must not hide the others
                print("error " + repr(e).replace("\n", " "))


if __name__ == "__main__":
    main()
