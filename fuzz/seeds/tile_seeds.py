#!/usr/bin/env python3
"""Turns an `import roads` store into seeds for the `tile` and `hierarchy` targets.

    geostack import roads fuzz/seeds/grid.osm --tiles /tmp/seed-store --no-geocode
    python3 fuzz/seeds/tile_seeds.py /tmp/seed-store fuzz/corpus

(`make_osm_seeds.py` writes the other small map, `map.osm`, which is imported the same way.)
Each tile gives two `tile` seeds: the file as stored behind a 0 byte, and its inflated rkyv
archive behind a 1 byte (see fuzz_targets/tile.rs). Each hierarchy is a `hierarchy` seed."""
import glob
import os
import shutil
import sys
import zlib

HEADER_LEN = 32


def main():
    store, corpus = sys.argv[1], sys.argv[2]
    for target in ("tile", "hierarchy"):
        os.makedirs(os.path.join(corpus, target), exist_ok=True)
    for path in sorted(glob.glob(os.path.join(store, "versions/*/tiles/*/*.gst"))):
        version = path.split(os.sep)[-4][-8:]
        level = path.split(os.sep)[-2]
        data = open(path, "rb").read()
        with open(os.path.join(corpus, "tile", f"file-{version}-{level}"), "wb") as f:
            f.write(b"\x00" + data)
        with open(os.path.join(corpus, "tile", f"archive-{version}-{level}"), "wb") as f:
            f.write(b"\x01" + zlib.decompress(data[HEADER_LEN:], -15))
    for path in sorted(glob.glob(os.path.join(store, "versions/*/ch/*.bin"))):
        version = path.split(os.sep)[-3][-8:]
        mode = os.path.basename(path)[: -len(".bin")]
        shutil.copy(path, os.path.join(corpus, "hierarchy", f"{version}-{mode}"))


if __name__ == "__main__":
    main()
