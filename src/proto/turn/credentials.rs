//! TURN REST API credentials, the scheme Lync/Skype for Business Edge servers (MRAS) and
//! most WebRTC TURN deployments use (draft-uberti-behave-turn-rest-00 §2.2).
//!
//! username = "<expiry>:<user>", where expiry is in seconds; password =
//! base64(HMAC-SHA1(shared secret, username)). The server needs no user database: it
//! recomputes the password from its own secret, so a server whose secret differs rejects
//! every credential. In the simulator expiry counts seconds of virtual time.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

use crate::time::{SimDuration, SimTime};

/// A username and password pair issued by a credential service.
#[derive(Clone, PartialEq, Eq)]
pub struct RestCredential {
    pub username: String,
    pub password: String,
}

impl RestCredential {
    /// Issues a credential for `user`, valid until `expiry` (virtual time).
    pub fn issue(secret: &[u8], expiry: SimTime, user: &str) -> RestCredential {
        let username = format!("{}:{user}", expiry.as_nanos() / 1_000_000_000);
        let password = rest_password(secret, &username);
        RestCredential { username, password }
    }
}

impl std::fmt::Debug for RestCredential {
    /// The password is a secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestCredential").field("username", &self.username).finish_non_exhaustive()
    }
}

/// base64(HMAC-SHA1(secret, username)).
pub fn rest_password(secret: &[u8], username: &str) -> String {
    let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// The instant a REST username stops being valid, or `None` if it has no numeric expiry.
pub fn rest_expiry(username: &str) -> Option<SimTime> {
    let (secs, _) = username.split_once(':')?;
    let secs: u64 = secs.parse().ok()?;
    Some(SimTime::ZERO + SimDuration::from_secs(secs.min(u64::MAX / 1_000_000_000)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_base64_hmac_sha1_of_username() {
        // HMAC-SHA1(key="secret", "1700000000:alice"), base64; computed independently with Python's hmac.
        assert_eq!(rest_password(b"secret", "1700000000:alice"), "d8soP47RbdIKLDUOpnJPVQyq5Ts=");
        let c = RestCredential::issue(b"secret", SimTime::ZERO + SimDuration::from_secs(3600), "bob");
        assert_eq!(c.username, "3600:bob");
        assert_eq!(rest_expiry(&c.username), Some(SimTime::ZERO + SimDuration::from_secs(3600)));
        assert_eq!(rest_expiry("bob"), None);
        assert_eq!(rest_expiry("x:bob"), None);
        assert!(!format!("{c:?}").contains(&c.password));
    }
}
