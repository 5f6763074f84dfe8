//! Bearer-token authentication: HS256 JWTs whose `sub` is the user id.
//!
//! The secret comes from `JWT_SECRET`, or else from a random secret generated once into
//! `DATA_DIR/jwt-secret` (mode 0600) so that the server and the `token` CLI agree on one
//! machine without configuration. The secret is never logged.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::ApiError;

/// Signs and verifies tokens.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Keys>,
}

struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth { secret: <redacted> }")
    }
}

/// The claims we issue and accept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User id as a string.
    pub sub: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: i64,
    pub admin: bool,
}

impl Auth {
    pub fn from_secret(secret: &[u8]) -> Auth {
        Auth {
            inner: Arc::new(Keys {
                encoding: EncodingKey::from_secret(secret),
                decoding: DecodingKey::from_secret(secret),
            }),
        }
    }

    /// `JWT_SECRET` when given, otherwise the secret file under `data_dir`: created on first
    /// use with a random 256-bit secret, and refused when it is open to group or others,
    /// another user's or blank (see [`crate::files`]).
    pub fn load(secret: Option<&str>, data_dir: &Path) -> anyhow::Result<Auth> {
        if let Some(secret) = secret.filter(|s| !s.is_empty()) {
            return Ok(Auth::from_secret(secret.as_bytes()));
        }
        crate::files::private_dir(data_dir)?;
        let path = data_dir.join("jwt-secret");
        if !path.exists() {
            let secret: String = {
                use rand::Rng;
                let bytes: [u8; 32] = rand::rng().random();
                bytes.iter().map(|b| format!("{b:02x}")).collect()
            };
            // When another process (the `token` command, a second instance) published one
            // first, theirs is kept and read below, so that all agree.
            crate::files::publish_private_file(&path, &secret)
                .with_context(|| format!("writing jwt secret {}", path.display()))?;
        }
        let stored = crate::files::read_secret_file(&path)?;
        Ok(Auth::from_secret(stored.as_bytes()))
    }

    /// Mints a token for `user_id`, valid for `ttl_s` seconds.
    pub fn mint(&self, user_id: i64, admin: bool, ttl_s: u64) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user_id.to_string(),
            exp: now_s() + ttl_s,
            role: admin.then(|| "admin".to_string()),
        };
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.inner.encoding,
        )?)
    }

    /// Verifies signature and expiry and returns the caller.
    pub fn verify(&self, token: &str) -> Result<Caller, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &validation)
            .map_err(|err| {
                ApiError::Unauthorized(format!("invalid token: {err}").to_lowercase())
            })?;
        let user_id = data.claims.sub.parse::<i64>().map_err(|_| {
            ApiError::Unauthorized("token subject must be a numeric user id".into())
        })?;
        Ok(Caller {
            user_id,
            admin: data.claims.role.as_deref() == Some("admin"),
        })
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Reads `Authorization: Bearer <token>` (or `?token=` for WebSocket upgrades).
pub fn bearer_token(parts: &Parts) -> Option<String> {
    if let Some(value) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string());
    }
    // Browsers cannot set headers on a WebSocket upgrade, so only there may the token ride in
    // the query string (where it would otherwise end up in access logs).
    let is_upgrade = parts
        .headers
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return None;
    }
    let query = parts.uri.query()?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_string())
}

impl<S> FromRequestParts<S> for Caller
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        let token = bearer_token(parts).ok_or_else(|| {
            ApiError::Unauthorized("missing bearer token (Authorization: Bearer <token>)".into())
        })?;
        auth.verify(&token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mint_and_verify() {
        let auth = Auth::from_secret(b"test-secret");
        let token = auth.mint(42, true, 60).unwrap();
        let caller = auth.verify(&token).unwrap();
        assert_eq!(caller.user_id, 42);
        assert!(caller.admin);
        let other = Auth::from_secret(b"other");
        assert!(other.verify(&token).is_err());
        assert!(auth.verify("garbage").is_err());
    }

    #[test]
    fn generated_secret_is_private_and_shared() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("var");
        let server = Auth::load(None, &dir).unwrap();
        let cli = Auth::load(None, &dir).unwrap();
        let token = cli.mint(7, false, 60).unwrap();
        assert_eq!(server.verify(&token).unwrap().user_id, 7);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode =
                |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.join("jwt-secret")), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
        // JWT_SECRET wins over the file.
        let explicit = Auth::load(Some("explicit"), &dir).unwrap();
        assert!(explicit.verify(&token).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_open_to_others_or_blank_stops_start_up() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path();
        let path = dir.join("jwt-secret");
        Auth::load(None, dir).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = format!("{:#}", Auth::load(None, dir).unwrap_err());
        assert!(
            err.contains("mode 0666") && err.contains("chmod 600"),
            "{err}"
        );
        // Refused, not repaired: the file is left for the operator to judge.
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666);
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = format!("{:#}", Auth::load(None, dir).unwrap_err());
        assert!(err.contains("blank"), "{err}");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "",
            "a blank file is not filled"
        );
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_secret() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("var");
        let loaders: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.clone();
                std::thread::spawn(move || Auth::load(None, &dir).unwrap())
            })
            .collect();
        let auths: Vec<Auth> = loaders.into_iter().map(|t| t.join().unwrap()).collect();
        let token = auths[0].mint(1, false, 60).unwrap();
        assert!(auths.iter().all(|a| a.verify(&token).is_ok()));
    }

    #[test]
    fn expired_tokens_are_rejected() {
        let auth = Auth::from_secret(b"s");
        let claims = Claims {
            sub: "1".into(),
            exp: now_s() - 3600,
            role: None,
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s"),
        )
        .unwrap();
        assert!(auth.verify(&token).is_err());
    }
}
