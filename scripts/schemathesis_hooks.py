"""Schemathesis hooks for geostack's /openapi.json (loaded by scripts/schemathesis.sh).

The document names a few string formats that no JSON Schema pattern captures, and
describes them in words (see each parameter's description); here each gets a generator of
valid values. It also states two rules across parameters that OpenAPI cannot express, and
the filters below keep generated requests within them:
- GET /v1/geocode takes exactly one of `address` and `latlng`;
- GET /v1/nav takes `alternatives=true` or `exact=true` only between two stops (no
  `waypoints`), and not both.
- POST /v1/friends: `friend_id` is not the caller (GEOSTACK_CALLER_ID).
Everything else comes from the document alone.
"""

import base64
import os
import struct

import schemathesis
from hypothesis import strategies as st

CALLER_ID = int(os.environ.get("GEOSTACK_CALLER_ID", "-1"))

latitudes = st.floats(min_value=-90, max_value=90, allow_nan=False)
longitudes = st.floats(min_value=-180, max_value=180, allow_nan=False)

# `lat,lng`: two finite decimal numbers in range, optionally with spaces after the comma.
lat_lng = st.builds(
    lambda lat, lng, space: f"{lat:.6f},{space}{lng:.6f}",
    latitudes,
    longitudes,
    st.sampled_from(["", " "]),
)

# A place name: letters first (so it never reads as a number), at most 200 characters,
# no control characters, no `,` (so it is never a coordinate pair) and no `|` (the
# waypoint separator).
place_name = st.one_of(
    st.sampled_from(
        [
            "Mannerheimintie 5",
            "Kamppi",
            "Aleksanterinkatu",
            "Kauppatori",
            "Töölö",
            "Senaatintori",
            "Rautatientori",
        ]
    ),
    st.from_regex(r"\A[A-DF-Za-df-zÄÖäö][A-Za-z0-9ÄÖäö '.-]{0,60}\Z"),
)

place = st.one_of(lat_lng, place_name)

waypoints = st.lists(
    st.builds(lambda via, stop: via + stop, st.sampled_from(["", "via:"]), place),
    min_size=1,
    max_size=3,
).map("|".join)


def _cursor(distance: float, business_id: int) -> str:
    bits = struct.unpack("<Q", struct.pack("<d", distance))[0]
    raw = f"{bits:x}.{business_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# What `next_cursor` holds: the (distance, id) of the last business of a page.
cursor = st.builds(
    _cursor,
    st.floats(min_value=0, max_value=20_000, allow_nan=False),
    st.integers(min_value=0, max_value=2**62),
)

opening_hours = st.sampled_from(
    [
        "24/7",
        "Mo-Fr 08:00-18:00",
        "Mo-Fr 09:00-17:00; Sa 10:00-14:00",
        "Mo-Su 09:00-20:00",
        "Tu-Sa 11:00-22:00; Su off",
    ]
)

schemathesis.openapi.format("lat-lng", lat_lng)
schemathesis.openapi.format("place-name", place_name)
schemathesis.openapi.format("place", place)
schemathesis.openapi.format("waypoints", waypoints)
schemathesis.openapi.format("cursor", cursor)
schemathesis.openapi.format("osm-opening-hours", opening_hours)


def _truthy(value) -> bool:
    return value in ("true", "1", True, 1)


@schemathesis.hook("filter_query").apply_to(path="/v1/geocode")
def exactly_one_place(ctx, query):
    query = query or {}
    return ("address" in query) != ("latlng" in query)


@schemathesis.hook("filter_query").apply_to(path="/v1/nav")
def one_route_options(ctx, query):
    query = query or {}
    alternatives = _truthy(query.get("alternatives"))
    exact = _truthy(query.get("exact"))
    if (alternatives or exact) and query.get("waypoints") is not None:
        return False
    return not (alternatives and exact)


@schemathesis.hook("filter_body").apply_to(path="/v1/friends", method="POST")
def not_oneself(ctx, body):
    return not (isinstance(body, dict) and body.get("friend_id") == CALLER_ID)
