-- Proximity service: businesses (live), the published snapshot that search serves, and the
-- geohash index table of the design. SQLite flavour; migrations/postgres has the same schema.

-- Live business rows: writes land here and GET /v1/businesses/{id} reads here.
-- AUTOINCREMENT so that a deleted id is never reused while a published snapshot may still
-- name it.
CREATE TABLE businesses (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id      INTEGER,
    name          TEXT    NOT NULL,
    category      TEXT    NOT NULL,
    address       TEXT,
    city          TEXT,
    state         TEXT,
    country       TEXT,
    postcode      TEXT,
    latitude      REAL    NOT NULL,
    longitude     REAL    NOT NULL,
    opening_hours TEXT,
    phone         TEXT,
    website       TEXT,
    -- "n123" / "w456" for rows imported from OSM, so a re-import updates instead of duplicating.
    osm_ref       TEXT    UNIQUE,
    -- Bumped by every write; publication compares it with the published copy.
    revision      INTEGER NOT NULL DEFAULT 1,
    updated_at    INTEGER NOT NULL
);

-- What search sees: the rows as of the last publication ("effective the next day").
CREATE TABLE published_businesses (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    category      TEXT    NOT NULL,
    latitude      REAL    NOT NULL,
    longitude     REAL    NOT NULL,
    opening_hours TEXT,
    revision      INTEGER NOT NULL
);

-- The design's geospatial index: one row per business per geohash length in use (4, 5, 6).
-- The compound key makes adding or removing a business a plain insert or delete.
CREATE TABLE geohash_index (
    geohash     TEXT    NOT NULL,
    business_id INTEGER NOT NULL,
    PRIMARY KEY (geohash, business_id)
);

-- One row per publication; the highest version is the live one. Every service instance polls
-- it and rebuilds its in-memory index when it changes.
CREATE TABLE index_publications (
    version      INTEGER PRIMARY KEY AUTOINCREMENT,
    published_at INTEGER NOT NULL,
    businesses   INTEGER NOT NULL,
    changed      INTEGER NOT NULL,
    removed      INTEGER NOT NULL
);
