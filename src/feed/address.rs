//! Which addresses a fetch may reach when the URL did not come from the operator's config:
//! `preview URL` for an arbitrary URL must not become a way to read the host's own
//! services (an admin page on 127.0.0.1, a router on 192.168.0.1, cloud instance metadata
//! on 169.254.169.254) and print them.
//!
//! Owns: the classification of an IP address as public or not ([`non_public`]), the
//! [`AddressGuard`] that refuses the ones that are not, and the DNS resolver
//! ([`GuardedResolver`]) through which a guarded HTTP client resolves every host, redirect
//! targets included, so a name that resolves to a private address is refused at connect
//! time (no window between a check and the connection for DNS rebinding).
//!
//! Must not: decide *when* to guard (the caller asks the fetcher for a guarded client), or
//! know about feeds, commands or flags.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Why an address is not public.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonPublic {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10 (carrier-grade NAT), fc00::/7, fec0::/10.
    Private,
    /// 169.254/16 (where cloud metadata services live), fe80::/10.
    LinkLocal,
    /// 0.0.0.0/8, ::: "this host" to the kernel.
    Unspecified,
    /// Multicast and broadcast: no feed is served there.
    Multicast,
}

impl fmt::Display for NonPublic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link-local",
            Self::Unspecified => "unspecified",
            Self::Multicast => "multicast",
        })
    }
}

/// `None` for a public address, else what kind of non-public one it is. IPv4 addresses
/// embedded in IPv6 ones (`::ffff:127.0.0.1`, `::127.0.0.1`, NAT64 `64:ff9b::a00:1`, 6to4
/// `2002:7f00:1::`) are judged as the IPv4 address they reach.
pub fn non_public(ip: IpAddr) -> Option<NonPublic> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<NonPublic> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some(NonPublic::Loopback)
    } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
        Some(NonPublic::Private)
    } else if ip.is_link_local() {
        Some(NonPublic::LinkLocal)
    } else if a == 0 {
        Some(NonPublic::Unspecified)
    } else if ip.is_multicast() || ip.is_broadcast() {
        Some(NonPublic::Multicast)
    } else {
        None
    }
}

fn non_public_v6(ip: Ipv6Addr) -> Option<NonPublic> {
    if let Some(v4) = embedded_v4(ip) {
        return non_public_v4(v4);
    }
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some(NonPublic::Loopback)
    } else if ip.is_unspecified() {
        Some(NonPublic::Unspecified)
    } else if first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfec0 {
        // Unique local addresses, and the site-local ones they replaced (still routed by
        // some old networks).
        Some(NonPublic::Private)
    } else if first & 0xffc0 == 0xfe80 {
        Some(NonPublic::LinkLocal)
    } else if ip.is_multicast() {
        Some(NonPublic::Multicast)
    } else {
        None
    }
}

/// The IPv4 address an IPv6 address stands for, when it embeds one the network will
/// route to: mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`, deprecated but still
/// routed by some stacks), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    // `::` and `::1` are themselves, not 0.0.0.0 and 0.0.0.1.
    if s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback() {
        return Some(tail());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::from((u32::from(s[1]) << 16) | u32::from(s[2])));
    }
    None
}

/// A fetch refused because its host is, or resolves to, an address that is not public.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct Refused {
    /// The host as written in the URL (a name or an address).
    pub host: String,
    pub addr: IpAddr,
    pub kind: NonPublic,
}

impl Refused {
    /// "127.0.0.1 is a loopback address", "localhost resolves to ::1, a loopback address".
    fn describe(&self) -> String {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        match host.parse::<IpAddr>() {
            Ok(ip) if ip == self.addr => format!("{} is a {} address", self.host, self.kind),
            _ => format!(
                "{} resolves to {}, a {} address",
                self.host, self.addr, self.kind
            ),
        }
    }
}

/// Refuses loopback, private, link-local and other non-public addresses, except the ones
/// it was told to trust. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AddressGuard {
    trusted: Arc<Vec<IpAddr>>,
}

impl AddressGuard {
    /// Public addresses only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Also allow `addr`: one address the operator vouches for (tests use it for their
    /// server on 127.0.0.1, to show that a redirect *from* there is still checked).
    pub fn trusting(mut self, addr: IpAddr) -> Self {
        Arc::make_mut(&mut self.trusted).push(addr);
        self
    }

    /// Whether `addr` may be connected to; `host` names it in the refusal.
    pub fn check_addr(&self, host: &str, addr: IpAddr) -> Result<(), Refused> {
        if self.trusted.contains(&addr) {
            return Ok(());
        }
        match non_public(addr) {
            None => Ok(()),
            Some(kind) => Err(Refused {
                host: host.to_owned(),
                addr,
                kind,
            }),
        }
    }

    /// The check for a URL whose host is an IP address (the HTTP client connects to
    /// those without asking a resolver). A host name passes here: the
    /// [`GuardedResolver`] checks what it resolves to.
    pub fn check_url(&self, url: &Url) -> Result<(), Refused> {
        match url.host() {
            Some(Host::Ipv4(v4)) => self.check_addr(&v4.to_string(), IpAddr::V4(v4)),
            Some(Host::Ipv6(v6)) => self.check_addr(&format!("[{v6}]"), IpAddr::V6(v6)),
            Some(Host::Domain(_)) | None => Ok(()),
        }
    }

    /// A DNS resolver for the HTTP client that applies this guard.
    pub fn resolver(&self) -> GuardedResolver {
        GuardedResolver {
            guard: self.clone(),
        }
    }
}

/// The system resolver (`getaddrinfo`, as reqwest's default), refusing a name when any of
/// its addresses is not public: a name that mixes public and private addresses is a
/// rebinding trick more often than a real feed host.
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    guard: AddressGuard,
}

impl GuardedResolver {
    /// Resolves `host` and checks every address.
    pub async fn lookup(&self, host: &str) -> Result<Vec<SocketAddr>, ResolveError> {
        // Port 0: reqwest puts the URL's port (or the scheme's) in.
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| ResolveError::Lookup(e.to_string()))?
            .collect();
        for addr in &addrs {
            self.guard
                .check_addr(host, addr.ip())
                .map_err(ResolveError::Refused)?;
        }
        Ok(addrs)
    }
}

/// Why [`GuardedResolver`] gave no address. The fetcher finds it in the client's error
/// chain to tell a refusal apart from a DNS failure.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Refused(Refused),
    #[error("failed to lookup address information: {0}")]
    Lookup(String),
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let addrs = this.lookup(name.as_str()).await?;
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<NonPublic> {
        non_public(s.parse().unwrap())
    }

    #[test]
    fn ipv4_classes() {
        use NonPublic::*;
        for (addr, expected) in [
            ("127.0.0.1", Some(Loopback)),
            ("127.255.0.9", Some(Loopback)),
            ("10.1.2.3", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("100.64.0.1", Some(Private)),
            ("169.254.169.254", Some(LinkLocal)),
            ("0.0.0.0", Some(Unspecified)),
            ("224.0.0.1", Some(Multicast)),
            ("255.255.255.255", Some(Multicast)),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("93.184.216.34", None),
            ("8.8.8.8", None),
        ] {
            assert_eq!(kind(addr), expected, "{addr}");
        }
    }

    #[test]
    fn ipv6_classes_and_embedded_ipv4() {
        use NonPublic::*;
        for (addr, expected) in [
            ("::1", Some(Loopback)),
            ("::", Some(Unspecified)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("fec0::1", Some(Private)),
            ("ff02::1", Some(Multicast)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("::ffff:10.0.0.1", Some(Private)),
            ("::ffff:169.254.169.254", Some(LinkLocal)),
            ("::127.0.0.1", Some(Loopback)),
            ("64:ff9b::a00:1", Some(Private)),
            ("2002:7f00:1::", Some(Loopback)),
            ("::ffff:93.184.216.34", None),
            ("2606:2800:220:1:248:1893:25c8:1946", None),
            ("2001:4860:4860::8888", None),
        ] {
            assert_eq!(kind(addr), expected, "{addr}");
        }
    }

    #[test]
    fn urls_with_address_hosts_are_checked() {
        let guard = AddressGuard::public_only();
        let refused = |u: &str| guard.check_url(&Url::parse(u).unwrap()).unwrap_err();
        let r = refused("http://127.0.0.1:8080/feed");
        assert_eq!(r.kind, NonPublic::Loopback);
        assert_eq!(r.to_string(), "127.0.0.1 is a loopback address");
        // The URL parser normalises the odd spellings of 127.0.0.1 before we see them.
        assert_eq!(refused("http://2130706433/").kind, NonPublic::Loopback);
        assert_eq!(refused("http://0x7f.1/").kind, NonPublic::Loopback);
        assert_eq!(refused("http://[::1]/").kind, NonPublic::Loopback);
        assert_eq!(refused("http://[::ffff:a00:1]/").kind, NonPublic::Private);
        assert_eq!(
            refused("http://169.254.169.254/latest/meta-data/").kind,
            NonPublic::LinkLocal
        );
        assert!(
            guard
                .check_url(&Url::parse("https://93.184.216.34/").unwrap())
                .is_ok()
        );
        // Names are the resolver's job.
        assert!(
            guard
                .check_url(&Url::parse("http://localhost/").unwrap())
                .is_ok()
        );
    }

    #[test]
    fn trusted_addresses_pass() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let guard = AddressGuard::public_only().trusting(lo);
        assert!(guard.check_addr("127.0.0.1", lo).is_ok());
        assert!(guard.check_addr("::1", "::1".parse().unwrap()).is_err());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let resolver = AddressGuard::public_only().resolver();
        let err = resolver.lookup("localhost").await.unwrap_err();
        let ResolveError::Refused(refused) = err else {
            panic!("expected a refusal, got {err}");
        };
        assert_eq!(refused.host, "localhost");
        assert_eq!(refused.kind, NonPublic::Loopback);
        // Through the trait reqwest calls.
        let err = match resolver.resolve("localhost".parse().unwrap()).await {
            Ok(_) => panic!("localhost resolved through the guard"),
            Err(e) => e,
        };
        assert!(err.to_string().contains("a loopback address"), "{err}");
    }
}
