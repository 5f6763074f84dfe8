-- Nearby-friends service: users, mutual friendships and location history. PostgreSQL
-- flavour; migrations/sqlite has the same schema.

CREATE TABLE friend_users (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT   NOT NULL,
    created_ms BIGINT NOT NULL
);

-- Both directions are stored, so "friends of X" is one index range and removing a
-- friendship deletes exactly two rows in one statement.
CREATE TABLE friendships (
    user_id    BIGINT NOT NULL REFERENCES friend_users (id) ON DELETE CASCADE,
    friend_id  BIGINT NOT NULL REFERENCES friend_users (id) ON DELETE CASCADE,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);

-- Write-heavy and append-only; read by one user's time range. `ts` is the client's fix
-- time (what the user asks about); `received_ms` is ours (what retention trusts).
CREATE TABLE location_history (
    user_id     BIGINT           NOT NULL,
    ts          DOUBLE PRECISION NOT NULL,
    latitude    DOUBLE PRECISION NOT NULL,
    longitude   DOUBLE PRECISION NOT NULL,
    received_ms BIGINT           NOT NULL
);
CREATE INDEX location_history_user_ts ON location_history (user_id, ts);
CREATE INDEX location_history_received ON location_history (received_ms);
