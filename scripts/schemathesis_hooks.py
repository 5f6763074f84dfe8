"""Schemathesis hooks for geostack's /openapi.json (loaded by scripts/schemathesis.sh).

The document names a few string formats that no JSON Schema pattern captures, and
describes them in words (see each parameter's description); here each gets a generator of
valid values. It also states two rules across parameters that OpenAPI cannot express, and
the filters below keep generated requests within them:
- GET /v1/geocode takes exactly one of `address` and `latlng`;
- GET /v1/nav takes `alternatives=true` or `exact=true` only between two stops (no
  `waypoints`), and not both.
- GET /v1/users/{id}/locations: `from` is not after `to`;
- POST /v1/friends: `friend_id` is not the caller (GEOSTACK_CALLER_ID).
And since drawn ids rarely exist, half of the user ids drawn for the friends operations
are mapped onto users that do: the caller (`/v1/users/{id}/locations`) and the users that
scripts/schemathesis.sh registered (GEOSTACK_USER_IDS, for `friend_id`), so that their
success paths run too. Everything else comes from the document alone.
"""

import base64
import os
import struct

import schemathesis
from hypothesis import strategies as st

CALLER_ID = int(os.environ.get("GEOSTACK_CALLER_ID", "-1"))
USER_IDS = [int(i) for i in os.environ.get("GEOSTACK_USER_IDS", "").split(",") if i]

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


# `filter_case` and `map_case` run in every phase (coverage included), unlike the
# per-component filters.


@schemathesis.hook("filter_case").apply_to(path="/v1/geocode")
def exactly_one_place(ctx, case):
    query = case.query if isinstance(case.query, dict) else {}
    return ("address" in query) != ("latlng" in query)


@schemathesis.hook("filter_case").apply_to(path="/v1/nav")
def one_route_options(ctx, case):
    query = case.query if isinstance(case.query, dict) else {}
    alternatives = _truthy(query.get("alternatives"))
    exact = _truthy(query.get("exact"))
    if (alternatives or exact) and query.get("waypoints") is not None:
        return False
    return not (alternatives and exact)


@schemathesis.hook("filter_case").apply_to(path="/v1/users/{id}/locations", method="GET")
def a_time_range(ctx, case):
    query = case.query if isinstance(case.query, dict) else {}
    start, end = query.get("from"), query.get("to")
    numbers = (int, float)
    if isinstance(start, numbers) and isinstance(end, numbers):
        return start <= end
    return True


@schemathesis.hook("filter_case").apply_to(path="/v1/friends", method="POST")
def not_oneself(ctx, case):
    return not (isinstance(case.body, dict) and case.body.get("friend_id") == CALLER_ID)


def _positive(case) -> bool:
    """Whether the case is meant to be valid (ids of invalid ones are left as drawn)."""
    meta = getattr(case, "meta", None)
    return meta is not None and meta.generation.mode.is_positive


def _existing_user(value):
    """Half of the integers (the even ones) become the id of a registered user other than
    the caller."""
    others = [i for i in USER_IDS if i != CALLER_ID]
    if isinstance(value, int) and not isinstance(value, bool) and value % 2 == 0 and others:
        return others[(value // 2) % len(others)]
    return value


@schemathesis.hook("map_case").apply_to(path="/v1/users/{id}/locations")
def own_history_half_the_time(ctx, case):
    parameters = case.path_parameters
    if _positive(case) and isinstance(parameters, dict) and isinstance(parameters.get("id"), int):
        if not isinstance(parameters["id"], bool) and parameters["id"] % 2 == 0:
            parameters["id"] = CALLER_ID
    return case


@schemathesis.hook("map_case").apply_to(path="/v1/friends/{friend_id}")
def existing_friend_half_the_time(ctx, case):
    parameters = case.path_parameters
    if _positive(case) and isinstance(parameters, dict) and "friend_id" in parameters:
        parameters["friend_id"] = _existing_user(parameters["friend_id"])
    return case


@schemathesis.hook("map_case").apply_to(path="/v1/friends", method="POST")
def ask_an_existing_user_half_the_time(ctx, case):
    if _positive(case) and isinstance(case.body, dict) and "friend_id" in case.body:
        case.body["friend_id"] = _existing_user(case.body["friend_id"])
    return case
