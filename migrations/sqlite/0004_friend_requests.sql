-- Friendship by consent: a request waits here until the other user asks back (which makes
-- the friendship and removes both directions' requests), or is withdrawn or declined.
-- Friendships made before this migration stay as they are.

CREATE TABLE friend_requests (
    from_id    INTEGER NOT NULL REFERENCES friend_users (id) ON DELETE CASCADE,
    to_id      INTEGER NOT NULL REFERENCES friend_users (id) ON DELETE CASCADE,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (from_id, to_id)
);
CREATE INDEX friend_requests_to ON friend_requests (to_id);
