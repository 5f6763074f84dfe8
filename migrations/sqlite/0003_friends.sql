-- Nearby-friends service: users, mutual friendships and location history. SQLite flavour;
-- migrations/postgres has the same schema.

CREATE TABLE friend_users (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    created_ms INTEGER NOT NULL
);

-- Both directions are stored, so "friends of X" is one index range and removing a
-- friendship deletes exactly two rows in one statement.
CREATE TABLE friendships (
    user_id    INTEGER NOT NULL REFERENCES friend_users (id) ON DELETE CASCADE,
    friend_id  INTEGER NOT NULL REFERENCES friend_users (id) ON DELETE CASCADE,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, friend_id)
);

-- Write-heavy and append-only; read by one user's time range. `ts` is the client's fix
-- time (what the user asks about); `received_ms` is ours (what retention trusts).
CREATE TABLE location_history (
    user_id     INTEGER NOT NULL,
    ts          REAL    NOT NULL,
    latitude    REAL    NOT NULL,
    longitude   REAL    NOT NULL,
    received_ms INTEGER NOT NULL
);
CREATE INDEX location_history_user_ts ON location_history (user_id, ts);
CREATE INDEX location_history_received ON location_history (received_ms);
