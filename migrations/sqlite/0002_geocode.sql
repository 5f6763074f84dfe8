-- Navigation service: the places forward and reverse geocoding search. SQLite flavour;
-- migrations/postgres has the same schema.
--
-- Filled only by the OSM import (replaced as a whole, in one transaction). search_text holds
-- the normalised tokens of the place's names, street, house number, postcode and city with a
-- space at both ends, so that `LIKE '% tok%'` matches a token prefix on both engines.
CREATE TABLE geocode_places (
    place_id          TEXT PRIMARY KEY,   -- "n123" / "w456"
    name              TEXT NOT NULL,
    formatted_address TEXT NOT NULL,
    kind              TEXT NOT NULL,      -- Google type: street_address, route, locality, ...
    housenumber       TEXT,
    lat               REAL NOT NULL,
    lon               REAL NOT NULL,
    search_text       TEXT NOT NULL,
    rank_weight       REAL NOT NULL       -- importance in [0, 1]
);

-- Reverse geocoding reads a bounding box.
CREATE INDEX geocode_places_lat_lon ON geocode_places (lat, lon);
