//! "Nearby random person": an opted-in user's rounded position shared with strangers in the
//! surrounding geohash cells under an anonymous session that cannot be followed for long.

use geo_core::{Cell, LatLon};
use tokio::time::{Duration, Instant};

use super::{CELL_LEN, Connection, PERSON_TIME_STEP_S, SESSION_LIFETIME};
use crate::pubsub::{Event, cell_channel};

/// "Nearby random person" membership.
pub(super) struct RandomState {
    pub(super) session: u64,
    /// When the session was drawn.
    pub(super) since: Instant,
    pub(super) cell: Cell,
    pub(super) channels: Vec<String>,
}

impl RandomState {
    pub(super) fn new_session(&mut self) {
        self.session = rand::random();
        self.since = Instant::now();
    }
}

impl Connection {
    /// Time until the next "nearby random person" share: a random moment within the
    /// interval, so that shares do not arrive in step with the user's own updates (which
    /// friends see, and could match them against).
    pub(super) fn person_delay(&self) -> Duration {
        let interval = self.state.config.nearby_person_interval();
        interval.mul_f64(0.5 + rand::random::<f64>())
    }

    /// Shares the user's position with opted-in strangers nearby: rounded to about 100 m,
    /// time to the minute, under an anonymous session.
    pub(super) fn publish_person(&mut self) {
        let (Some(random), Some((at, timestamp))) = (&mut self.random, self.here) else {
            return;
        };
        if random.since.elapsed() >= SESSION_LIFETIME {
            random.new_session();
        }
        let event = Event::Person {
            session: random.session,
            latitude: (at.lat * 1000.0).round() / 1000.0,
            longitude: (at.lon * 1000.0).round() / 1000.0,
            timestamp: (timestamp / PERSON_TIME_STEP_S).floor() * PERSON_TIME_STEP_S,
        };
        let channel = cell_channel(&self.state.prefix, &random.cell.to_string());
        let _ = self.state.pubsub.publish(&channel, &event);
    }

    /// A friendship changed: an anonymous session an ex-friend may have linked to this user
    /// ends.
    pub(super) fn rotate_session(&mut self) {
        if let Some(random) = &mut self.random {
            random.new_session();
        }
    }

    /// Joins the cell of `at` and its neighbours under a new anonymous session: a session
    /// never spans two cells, so it cannot be followed across town.
    pub(super) async fn join_cells(&mut self, at: LatLon) {
        let cell = Cell::containing(at, CELL_LEN);
        let mut cells = vec![cell];
        cells.extend(cell.neighbours());
        let channels: Vec<String> = cells
            .iter()
            .map(|c| cell_channel(&self.state.prefix, &c.to_string()))
            .collect();
        for channel in &channels {
            self.state
                .pubsub
                .subscribe(channel, self.id, &self.inbox)
                .await;
        }
        self.random = Some(RandomState {
            session: rand::random(),
            since: Instant::now(),
            cell,
            channels,
        });
    }

    pub(super) async fn leave_cells(&mut self) {
        if let Some(random) = &self.random {
            for channel in &random.channels {
                self.state.pubsub.unsubscribe(channel, self.id).await;
            }
        }
    }
}
