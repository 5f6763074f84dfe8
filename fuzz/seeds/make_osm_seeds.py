#!/usr/bin/env python3
"""Writes the OSM fuzz target's seeds: one small map as OSM XML, gzipped XML and PBF (raw and
zlib blobs), small enough for libFuzzer to mutate. Run from the repository root:
`python3 fuzz/seeds/make_osm_seeds.py fuzz/corpus/osm`."""
import gzip
import os
import struct
import sys
import zlib

# (id, lat, lon, tags): a T junction with a one-way primary road, a footway and a shop.
NODES = [
    (1, 60.1700000, 24.9400000, {}),
    (2, 60.1705000, 24.9410000, {}),
    (3, 60.1710000, 24.9420000, {"highway": "traffic_signals"}),
    (4, 60.1715000, 24.9410000, {}),
    (5, 60.1702000, 24.9425000, {"shop": "bakery", "name": "Leipomo"}),
]
WAYS = [
    (10, [1, 2, 3], {"highway": "primary", "oneway": "yes", "name": "Mannerheimintie"}),
    (11, [2, 4], {"highway": "residential", "name": "Sivukatu"}),
    (12, [3, 5], {"highway": "footway"}),
]
RELATIONS = [
    (20, [("way", 10, "from"), ("node", 2, "via"), ("way", 11, "to")],
     {"type": "restriction", "restriction": "no_left_turn"}),
]


def xml():
    out = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="seed">']
    for nid, lat, lon, tags in NODES:
        if tags:
            out.append(f' <node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}">')
            out += [f'  <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
            out.append(" </node>")
        else:
            out.append(f' <node id="{nid}" lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for wid, refs, tags in WAYS:
        out.append(f' <way id="{wid}">')
        out += [f'  <nd ref="{r}"/>' for r in refs]
        out += [f'  <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        out.append(" </way>")
    for rid, members, tags in RELATIONS:
        out.append(f' <relation id="{rid}">')
        out += [f'  <member type="{t}" ref="{r}" role="{role}"/>' for t, r, role in members]
        out += [f'  <tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        out.append(" </relation>")
    out.append("</osm>")
    return ("\n".join(out) + "\n").encode()


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def zigzag(v):
    return (v << 1) ^ (v >> 63)


def key(field, wire):
    return varint(field << 3 | wire)


def length_delimited(field, payload):
    return key(field, 2) + varint(len(payload)) + payload


def uint(field, v):
    return key(field, 0) + varint(v)


def packed(field, values):
    return length_delimited(field, b"".join(varint(v) for v in values))


def deltas(values):
    prev, out = 0, []
    for v in values:
        out.append(zigzag(v - prev))
        prev = v
    return out


def blob(kind, message, compress):
    if compress:
        body = uint(2, len(message)) + length_delimited(3, zlib.compress(message))
    else:
        body = length_delimited(1, message)
    header = length_delimited(1, kind.encode()) + uint(3, len(body))
    return struct.pack(">I", len(header)) + header + body


def pbf(compress):
    header_block = (length_delimited(4, b"OsmSchema-V0.6") + length_delimited(4, b"DenseNodes")
                    + length_delimited(16, b"seed"))
    strings = [""]

    def sid(s):
        if s not in strings:
            strings.append(s)
        return strings.index(s)

    keys_vals = []
    for _, _, _, tags in NODES:
        for k, v in tags.items():
            keys_vals += [sid(k), sid(v)]
        keys_vals.append(0)
    dense = (packed(1, deltas([n[0] for n in NODES]))
             + packed(8, deltas([round(n[1] * 1e7) for n in NODES]))
             + packed(9, deltas([round(n[2] * 1e7) for n in NODES]))
             + packed(10, keys_vals))
    ways = b""
    for wid, refs, tags in WAYS:
        ways += length_delimited(3, uint(1, wid)
                                 + packed(2, [sid(k) for k in tags])
                                 + packed(3, [sid(v) for v in tags.values()])
                                 + packed(8, deltas(refs)))
    relations = b""
    kinds = {"node": 0, "way": 1, "relation": 2}
    for rid, members, tags in RELATIONS:
        relations += length_delimited(4, uint(1, rid)
                                      + packed(2, [sid(k) for k in tags])
                                      + packed(3, [sid(v) for v in tags.values()])
                                      + packed(8, [sid(m[2]) for m in members])
                                      + packed(9, deltas([m[1] for m in members]))
                                      + packed(10, [kinds[m[0]] for m in members]))
    table = b"".join(length_delimited(1, s.encode()) for s in strings)
    block = (length_delimited(1, table) + length_delimited(2, length_delimited(2, dense))
             + length_delimited(2, ways) + length_delimited(2, relations))
    return blob("OSMHeader", header_block, compress) + blob("OSMData", block, compress)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "map.osm": xml(),
        "map.osm.gz": gzip.compress(xml(), mtime=0),
        "map-raw.osm.pbf": pbf(compress=False),
        "map-zlib.osm.pbf": pbf(compress=True),
    }
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
