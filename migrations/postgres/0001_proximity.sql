-- Proximity service: businesses (live), the published snapshot that search serves, and the
-- geohash index table of the design. PostgreSQL flavour; migrations/sqlite has the same schema.

-- Live business rows: writes land here and GET /v1/businesses/{id} reads here.
-- A sequence never reuses ids, so a published snapshot never names a different business.
CREATE TABLE businesses (
    id            BIGSERIAL PRIMARY KEY,
    owner_id      BIGINT,
    name          TEXT             NOT NULL,
    category      TEXT             NOT NULL,
    address       TEXT,
    city          TEXT,
    state         TEXT,
    country       TEXT,
    postcode      TEXT,
    latitude      DOUBLE PRECISION NOT NULL,
    longitude     DOUBLE PRECISION NOT NULL,
    opening_hours TEXT,
    phone         TEXT,
    website       TEXT,
    -- "n123" / "w456" for rows imported from OSM, so a re-import updates instead of duplicating.
    osm_ref       TEXT             UNIQUE,
    -- Bumped by every write; publication compares it with the published copy.
    revision      BIGINT           NOT NULL DEFAULT 1,
    updated_at    BIGINT           NOT NULL
);

-- What search sees: the rows as of the last publication ("effective the next day").
CREATE TABLE published_businesses (
    id            BIGINT PRIMARY KEY,
    name          TEXT             NOT NULL,
    category      TEXT             NOT NULL,
    latitude      DOUBLE PRECISION NOT NULL,
    longitude     DOUBLE PRECISION NOT NULL,
    opening_hours TEXT,
    revision      BIGINT           NOT NULL
);

-- The design's geospatial index: one row per business per geohash length in use (4, 5, 6).
-- The compound key makes adding or removing a business a plain insert or delete. COLLATE "C"
-- keeps geohash comparisons bytewise, as on SQLite.
CREATE TABLE geohash_index (
    geohash     TEXT COLLATE "C" NOT NULL,
    business_id BIGINT           NOT NULL,
    PRIMARY KEY (geohash, business_id)
);

-- One row per publication; the highest version is the live one. Every service instance polls
-- it and rebuilds its in-memory index when it changes.
CREATE TABLE index_publications (
    version      BIGSERIAL PRIMARY KEY,
    published_at BIGINT NOT NULL,
    businesses   BIGINT NOT NULL,
    changed      BIGINT NOT NULL,
    removed      BIGINT NOT NULL
);
