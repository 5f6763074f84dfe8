//! Service discovery through etcd.
//!
//! The membership of the pub/sub ring lives in etcd (for example under `/config/pub_sub_ring`,
//! as a JSON array of Redis URLs) so that every instance hashes channels onto the same servers
//! and follows changes without a restart. etcd is reached through its v3 JSON gateway with the
//! HTTP client the crate already has: the gRPC client (tonic + prost) would cost far more to
//! build than three calls are worth.

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _, IgnoredAny};
use serde_json::{Value, json};
use tokio::sync::watch;

/// Bounds every call that should answer at once, so an unreachable etcd fails fast instead of
/// stalling the caller (or a watcher that could be retrying).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// First pause after a watch failure; it doubles up to [`RETRY_MAX`], so an etcd restart is
/// noticed within a couple of seconds without hammering an etcd that is down for longer.
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// An etcd v3 endpoint reached through its JSON gateway.
#[derive(Clone, Debug)]
pub struct Etcd {
    http: reqwest::Client,
    /// Endpoint without a trailing slash, e.g. `http://127.0.0.1:2379`.
    base: String,
}

impl Etcd {
    /// `endpoint` is one of etcd's client URLs, e.g. `http://127.0.0.1:2379`. An `https` one is
    /// accepted, but only works in a binary that enables a TLS feature of reqwest.
    pub fn new(endpoint: &str) -> Result<Etcd> {
        let url = reqwest::Url::parse(endpoint)
            .with_context(|| format!("etcd endpoint {endpoint:?} is not a URL"))?;
        ensure!(
            matches!(url.scheme(), "http" | "https"),
            "etcd endpoint {endpoint:?} must be an http:// or https:// URL"
        );
        ensure!(
            url.host_str().is_some_and(|host| !host.is_empty()),
            "etcd endpoint {endpoint:?} has no host"
        );
        ensure!(
            url.query().is_none() && url.fragment().is_none(),
            "etcd endpoint {endpoint:?} must not have a query or fragment"
        );
        let http = reqwest::Client::builder()
            .connect_timeout(CALL_TIMEOUT)
            // A watch stream is silent between changes: without keepalive probes an etcd host
            // that vanished (rather than closed the connection) would never be noticed.
            .tcp_keepalive(Duration::from_secs(10))
            .tcp_keepalive_interval(Duration::from_secs(5))
            .tcp_keepalive_retries(3)
            .build()
            .context("building the etcd HTTP client")?;
        Ok(Etcd {
            http,
            base: url.as_str().trim_end_matches('/').to_owned(),
        })
    }

    /// The value of `key`, `None` when it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let (_, value) = self
            .range(key)
            .await
            .with_context(|| format!("etcd get {key:?}"))?;
        Ok(value)
    }

    pub async fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        let body = json!({ "key": BASE64.encode(key), "value": BASE64.encode(value) });
        self.call::<IgnoredAny>("kv/put", &body)
            .await
            .with_context(|| format!("etcd put {key:?}"))?;
        Ok(())
    }

    /// Follows `key` from a background task, so readers always see a recent value without
    /// asking etcd: the value is read, then a watch stream picks up every later change. After
    /// any failure (etcd down, stream closed, revision compacted) the task reads and watches
    /// again, pausing 0.5 s to 2 s between failed attempts, so a restarted etcd is picked up on
    /// its own.
    ///
    /// The receiver holds `None` until the first successful read and whenever the key does not
    /// exist: to a caller both mean "no membership known", and it keeps what it has. Receivers
    /// are only notified when the value changes. The task ends once every receiver is dropped.
    ///
    /// Must be called within a Tokio runtime.
    #[must_use = "the task stops as soon as the receiver is dropped"]
    pub fn watch(&self, key: &str) -> watch::Receiver<Option<Vec<u8>>> {
        let (tx, rx) = watch::channel(None);
        let etcd = self.clone();
        let key = key.to_owned();
        tokio::spawn(async move {
            tokio::select! {
                () = tx.closed() => {}
                () = etcd.follow(&key, &tx) => {}
            }
        });
        rx
    }

    /// The revision of the store when it was read, and the value of `key` at that revision.
    async fn range(&self, key: &str) -> Result<(i64, Option<Vec<u8>>)> {
        let response: RangeResponse = self
            .call("kv/range", &json!({ "key": BASE64.encode(key) }))
            .await?;
        let value = response.kvs.into_iter().next().map(|kv| kv.value);
        Ok((response.header.revision, value))
    }

    async fn call<T: DeserializeOwned>(&self, method: &str, body: &Value) -> Result<T> {
        let response = self
            .http
            .post(format!("{}/v3/{method}", self.base))
            .timeout(CALL_TIMEOUT)
            .json(body)
            .send()
            .await
            .with_context(|| format!("no answer from etcd at {}", self.base))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer of etcd at {}", self.base))?;
        let answer: Option<Value> = serde_json::from_slice(&bytes).ok();
        if let Some(message) = answer.as_ref().and_then(gateway_error) {
            bail!("etcd at {} refused {method}: {message}", self.base);
        }
        ensure!(
            status.is_success(),
            "etcd at {} answered {method} with HTTP {status}",
            self.base
        );
        let answer = answer
            .with_context(|| format!("etcd at {} answered {method} with non-JSON", self.base))?;
        serde_json::from_value(answer)
            .with_context(|| format!("unexpected answer from etcd at {} to {method}", self.base))
    }

    async fn follow(&self, key: &str, tx: &watch::Sender<Option<Vec<u8>>>) {
        let mut delay = RETRY_FIRST;
        let mut failing = false;
        loop {
            let mut watching = false;
            let error = match self.follow_once(key, tx, &mut watching).await {
                Ok(()) => {
                    tracing::debug!(key, "etcd compacted the watched revision; reading again");
                    continue;
                }
                Err(error) => error,
            };
            if watching {
                // The watch had been up, so this is a new outage rather than the same one.
                failing = false;
                delay = RETRY_FIRST;
            }
            if failing {
                tracing::debug!(
                    key,
                    error = format!("{error:#}"),
                    "etcd watch still failing"
                );
            } else {
                tracing::warn!(
                    key,
                    error = format!("{error:#}"),
                    "etcd watch failed; retrying"
                );
            }
            failing = true;
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(RETRY_MAX);
        }
    }

    /// Reads `key`, publishes it, then publishes every change from a watch stream. Returns
    /// `Ok` when the watch must start over from a fresh read because the revision it needed was
    /// compacted away; every other end is an error. `watching` is set once etcd has confirmed the
    /// watch.
    async fn follow_once(
        &self,
        key: &str,
        tx: &watch::Sender<Option<Vec<u8>>>,
        watching: &mut bool,
    ) -> Result<()> {
        let (revision, value) = self
            .range(key)
            .await
            .with_context(|| format!("etcd get {key:?}"))?;
        publish(tx, value);
        // The read covers every revision up to its own; the watch must not replay them.
        let mut next = revision + 1;
        let body = json!({
            "create_request": { "key": BASE64.encode(key), "start_revision": next }
        });
        let send = self
            .http
            .post(format!("{}/v3/watch", self.base))
            .json(&body)
            .send();
        let mut response = tokio::time::timeout(CALL_TIMEOUT, send)
            .await
            .map_err(anyhow::Error::from)
            .and_then(|sent| sent.map_err(anyhow::Error::from))
            .with_context(|| format!("no answer from etcd at {} to watch", self.base))?;
        ensure!(
            response.status().is_success(),
            "etcd at {} answered watch with HTTP {}",
            self.base,
            response.status()
        );
        let mut messages = Messages::default();
        loop {
            let chunk = if *watching {
                response.chunk().await
            } else {
                // Until the watch is confirmed, a silent etcd is as good as a dead one.
                tokio::time::timeout(CALL_TIMEOUT, response.chunk())
                    .await
                    .ok()
                    .context("etcd did not confirm the watch")?
            };
            let Some(chunk) = chunk.context("etcd watch stream broke")? else {
                bail!("etcd closed the watch stream");
            };
            for message in messages.push(&chunk)? {
                if let Some(error) = gateway_error(&message) {
                    bail!("etcd ended the watch: {error}");
                }
                let message: WatchMessage = serde_json::from_value(message)
                    .context("unexpected message on the etcd watch stream")?;
                let Some(result) = message.result else {
                    continue;
                };
                if result.compact_revision > 0 {
                    return Ok(());
                }
                if result.canceled {
                    bail!("etcd canceled the watch: {}", result.cancel_reason);
                }
                *watching |= result.created;
                let mut latest = None;
                for event in result.events {
                    if event.kv.mod_revision < next {
                        continue;
                    }
                    next = event.kv.mod_revision + 1;
                    latest = Some((event.kind != "DELETE").then_some(event.kv.value));
                }
                if let Some(value) = latest {
                    publish(tx, value);
                }
            }
        }
    }
}

fn publish(tx: &watch::Sender<Option<Vec<u8>>>, value: Option<Vec<u8>>) {
    tx.send_if_modified(|current| {
        let changed = *current != value;
        if changed {
            *current = value;
        }
        changed
    });
}

/// The message of an error answer of the gateway. It reports errors as
/// `{"error": "...", "message": "...", "code": 3}`, or in newer versions as
/// `{"error": {"message": "...", ...}}`.
fn gateway_error(answer: &Value) -> Option<String> {
    let error = answer.get("error")?;
    let message = answer
        .get("message")
        .or_else(|| error.get("message"))
        .unwrap_or(error);
    Some(match message {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    })
}

/// Splits the watch stream into JSON messages. The gateway writes one object per line, but chunk
/// boundaries fall anywhere: a chunk may hold several messages, or part of one.
#[derive(Default)]
struct Messages {
    pending: Vec<u8>,
}

impl Messages {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<Value>> {
        self.pending.extend_from_slice(chunk);
        // Every message is an object, so none can have been completed without a closing brace;
        // checking spares reparsing a large message each time another piece of it arrives.
        if !chunk.contains(&b'}') {
            return Ok(Vec::new());
        }
        let mut messages = Vec::new();
        let mut stream = serde_json::Deserializer::from_slice(&self.pending).into_iter::<Value>();
        let mut consumed = 0;
        loop {
            match stream.next() {
                Some(Ok(message)) => {
                    consumed = stream.byte_offset();
                    messages.push(message);
                }
                Some(Err(error)) if error.is_eof() => break,
                Some(Err(error)) => {
                    return Err(error).context("the etcd watch stream is not JSON");
                }
                None => {
                    consumed = stream.byte_offset();
                    break;
                }
            }
        }
        self.pending.drain(..consumed);
        Ok(messages)
    }
}

/// Parses the value of a ring key: a JSON array of Redis server URLs, e.g.
/// `["redis://10.0.0.1:6379","redis://10.0.0.2:6379"]`. Duplicates are dropped rather than
/// rejected (listing a server twice does not change the ring); the order is kept.
pub fn parse_ring(value: &[u8]) -> Result<Vec<String>> {
    let value: Value = serde_json::from_slice(value).context("ring value is not JSON")?;
    let Value::Array(entries) = value else {
        bail!("ring value must be a JSON array of redis:// URLs, got {value}");
    };
    ensure!(!entries.is_empty(), "ring value lists no servers");
    let mut servers: Vec<String> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.into_iter().enumerate() {
        let Value::String(url) = entry else {
            bail!("ring entry {index} is not a string: {entry}");
        };
        let rest = url
            .strip_prefix("redis://")
            .or_else(|| url.strip_prefix("rediss://"));
        ensure!(
            rest.is_some_and(|rest| !rest.is_empty()),
            "ring entry {index} ({url:?}) is not a redis:// or rediss:// URL"
        );
        if !servers.contains(&url) {
            servers.push(url);
        }
    }
    Ok(servers)
}

#[derive(Deserialize)]
struct RangeResponse {
    #[serde(default)]
    header: Header,
    #[serde(default)]
    kvs: Vec<KeyValue>,
}

#[derive(Default, Deserialize)]
struct Header {
    #[serde(default, deserialize_with = "int64")]
    revision: i64,
}

/// Fields equal to their protobuf default are left out by the gateway: an empty value, a `PUT`
/// event type, a zero revision.
#[derive(Deserialize)]
struct KeyValue {
    #[serde(default, deserialize_with = "base64_bytes")]
    value: Vec<u8>,
    #[serde(default, deserialize_with = "int64")]
    mod_revision: i64,
}

#[derive(Deserialize)]
struct WatchMessage {
    result: Option<WatchResult>,
}

#[derive(Deserialize)]
struct WatchResult {
    #[serde(default)]
    created: bool,
    #[serde(default)]
    canceled: bool,
    #[serde(default)]
    cancel_reason: String,
    #[serde(default, deserialize_with = "int64")]
    compact_revision: i64,
    #[serde(default)]
    events: Vec<Event>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default, rename = "type")]
    kind: String,
    kv: KeyValue,
}

/// protobuf's JSON mapping writes 64-bit integers as strings.
fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int64 {
        Number(i64),
        Text(String),
    }
    match Int64::deserialize(deserializer)? {
        Int64::Number(number) => Ok(number),
        Int64::Text(text) => text.parse().map_err(D::Error::custom),
    }
}

fn base64_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(deserializer)?;
    BASE64.decode(text).map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ring_keeps_order_and_drops_duplicates() {
        let ring = parse_ring(
            br#"["redis://127.0.0.1:7002","rediss://cache.internal:6380/0","redis://127.0.0.1:7002","redis://127.0.0.1:7001"]"#,
        )
        .unwrap();
        assert_eq!(
            ring,
            [
                "redis://127.0.0.1:7002",
                "rediss://cache.internal:6380/0",
                "redis://127.0.0.1:7001"
            ]
        );
    }

    #[test]
    fn parse_ring_rejects_what_is_not_a_list_of_redis_urls() {
        for (value, expected) in [
            (&b""[..], "not JSON"),
            (b"[\"redis://a\"", "not JSON"),
            (b"{\"servers\":[]}", "must be a JSON array"),
            (b"\"redis://a\"", "must be a JSON array"),
            (b"[]", "lists no servers"),
            (b"[\"redis://a\", 7]", "entry 1 is not a string"),
            (
                b"[\"http://a:6379\"]",
                "entry 0 (\"http://a:6379\") is not a redis://",
            ),
            (b"[\"redis://\"]", "is not a redis://"),
            (b"[\"127.0.0.1:6379\"]", "is not a redis://"),
        ] {
            let error = format!("{:#}", parse_ring(value).unwrap_err());
            assert!(
                error.contains(expected),
                "{:?}: {error:?} lacks {expected:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn endpoint_must_be_an_http_url() {
        for endpoint in [
            "http://127.0.0.1:2379",
            "https://etcd.internal:2379/",
            "http://[::1]:2379",
        ] {
            Etcd::new(endpoint).unwrap();
        }
        assert_eq!(
            Etcd::new("http://127.0.0.1:2379/").unwrap().base,
            "http://127.0.0.1:2379"
        );
        for endpoint in [
            "127.0.0.1:2379",
            "redis://127.0.0.1:2379",
            "http://h:2379/?x=1",
            "",
        ] {
            assert!(Etcd::new(endpoint).is_err(), "{endpoint:?} was accepted");
        }
    }

    const CREATED: &str = r#"{"result":{"header":{"revision":"3"},"created":true}}"#;
    const PUT: &str = r#"{"result":{"header":{"revision":"4"},"events":[{"kv":{"key":"aw==","mod_revision":"4","value":"WyJyZWRpczovL2EiXQ=="}}]}}"#;

    #[test]
    fn messages_are_split_at_object_boundaries() {
        let stream = format!("{CREATED}\n{PUT}\n{CREATED}{PUT}");
        let expected: Vec<Value> = [CREATED, PUT, CREATED, PUT]
            .iter()
            .map(|text| serde_json::from_str(text).unwrap())
            .collect();
        // All at once, byte by byte, and in pieces that straddle the boundaries.
        for size in [stream.len(), 1, 7, CREATED.len() + 5] {
            let mut messages = Messages::default();
            let mut seen = Vec::new();
            for chunk in stream.as_bytes().chunks(size) {
                seen.extend(messages.push(chunk).unwrap());
            }
            assert_eq!(seen, expected, "chunks of {size} bytes");
            assert!(messages.pending.iter().all(u8::is_ascii_whitespace));
        }
        assert!(Messages::default().push(b"{\"result\":}").is_err());
    }

    #[test]
    fn watch_messages_decode_with_protobuf_defaults_left_out() {
        let put: WatchMessage = serde_json::from_str(PUT).unwrap();
        let result = put.result.unwrap();
        assert_eq!(result.events[0].kind, "");
        assert_eq!(result.events[0].kv.mod_revision, 4);
        assert_eq!(result.events[0].kv.value, br#"["redis://a"]"#);

        let delete: WatchMessage = serde_json::from_str(
            r#"{"result":{"events":[{"type":"DELETE","kv":{"key":"aw==","mod_revision":"5"}}]}}"#,
        )
        .unwrap();
        let event = &delete.result.unwrap().events[0];
        assert_eq!((event.kind.as_str(), event.kv.value.len()), ("DELETE", 0));

        let compacted: WatchMessage = serde_json::from_str(
            r#"{"result":{"header":{},"canceled":true,"compact_revision":"5"}}"#,
        )
        .unwrap();
        assert_eq!(compacted.result.unwrap().compact_revision, 5);
    }

    #[test]
    fn gateway_errors_are_found_in_both_shapes() {
        for text in [
            r#"{"error":"illegal base64 data","message":"illegal base64 data at input byte 0","code":3}"#,
            r#"{"error":{"grpc_code":3,"message":"illegal base64 data at input byte 0"}}"#,
        ] {
            let answer: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                gateway_error(&answer).unwrap(),
                "illegal base64 data at input byte 0"
            );
        }
        assert_eq!(gateway_error(&serde_json::from_str(CREATED).unwrap()), None);
    }
}
