-- Navigation service: the places forward and reverse geocoding search. PostgreSQL flavour;
-- migrations/sqlite has the same schema.
--
-- Filled only by the OSM import (replaced as a whole, in one transaction). search_text holds
-- the normalised tokens of the place's names, street, house number, postcode and city with a
-- space at both ends, so that `LIKE '% tok%'` matches a token prefix on both engines.
-- COLLATE "C" keeps comparisons and ordering bytewise, as on SQLite.
CREATE TABLE geocode_places (
    place_id          TEXT COLLATE "C" PRIMARY KEY,   -- "n123" / "w456"
    name              TEXT             NOT NULL,
    formatted_address TEXT             NOT NULL,
    kind              TEXT COLLATE "C" NOT NULL,      -- Google type: street_address, route, ...
    housenumber       TEXT,
    lat               DOUBLE PRECISION NOT NULL,
    lon               DOUBLE PRECISION NOT NULL,
    search_text       TEXT COLLATE "C" NOT NULL,
    rank_weight       DOUBLE PRECISION NOT NULL       -- importance in [0, 1]
);

-- Reverse geocoding reads a bounding box.
CREATE INDEX geocode_places_lat_lon ON geocode_places (lat, lon);
