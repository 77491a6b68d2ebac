//! Message delivery: every code or temporary password Cognito would e-mail or text.
//! Each message is recorded in the in-memory [`Inbox`] (served at `GET /_tobira/inbox`),
//! logged, and, when an SMTP URL is configured, e-mailed.
//!
//! The inbox lives in the process's memory, not in the database, so that codes are never
//! written to disk in clear.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum DeliveryChannel {
    #[serde(rename = "EMAIL")]
    Email,
    #[serde(rename = "SMS")]
    Sms,
}

impl DeliveryChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryChannel::Email => "EMAIL",
            DeliveryChannel::Sms => "SMS",
        }
    }
}

/// What the service asks to be delivered.
#[derive(Debug, Clone)]
pub struct OutgoingMessage {
    pub pool_id: String,
    pub username: String,
    pub channel: DeliveryChannel,
    pub destination: String,
    pub subject: Option<String>,
    pub message: String,
    /// The code (or temporary password) the message carries, for tests to read.
    pub code: Option<String>,
    /// Why it was sent: SignUp, ResendCode, ForgotPassword, UpdateUserAttribute, VerifyUserAttribute, AdminCreateUser.
    pub purpose: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxMessage {
    pub id: u64,
    pub pool_id: String,
    pub username: String,
    pub channel: DeliveryChannel,
    pub destination: String,
    pub subject: Option<String>,
    pub message: String,
    pub code: Option<String>,
    pub purpose: &'static str,
    /// Epoch milliseconds.
    pub time: i64,
}

#[async_trait::async_trait]
pub trait Delivery: Send + Sync + 'static {
    async fn deliver(&self, msg: OutgoingMessage, now_millis: i64);
}

/// A bounded, in-memory record of delivered messages (newest last).
#[derive(Debug)]
pub struct Inbox {
    inner: Mutex<(u64, VecDeque<InboxMessage>)>,
    capacity: usize,
}

impl Inbox {
    pub fn new(capacity: usize) -> Self {
        Inbox { inner: Mutex::new((0, VecDeque::new())), capacity }
    }

    pub fn push(&self, msg: OutgoingMessage, now_millis: i64) -> InboxMessage {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        let entry = InboxMessage {
            id: g.0,
            pool_id: msg.pool_id,
            username: msg.username,
            channel: msg.channel,
            destination: msg.destination,
            subject: msg.subject,
            message: msg.message,
            code: msg.code,
            purpose: msg.purpose,
            time: now_millis,
        };
        if g.1.len() >= self.capacity {
            g.1.pop_front();
        }
        g.1.push_back(entry.clone());
        entry
    }

    /// Messages matching the filters, oldest first. `username` matches the stored username or the destination.
    pub fn list(&self, pool_id: Option<&str>, username: Option<&str>) -> Vec<InboxMessage> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.1.iter()
            .filter(|m| pool_id.is_none_or(|p| m.pool_id == p))
            .filter(|m| username.is_none_or(|u| m.username == u || m.destination == u))
            .cloned()
            .collect()
    }
}

/// Inbox + log + optional SMTP.
pub struct StandardDelivery {
    pub inbox: std::sync::Arc<Inbox>,
    pub smtp: Option<SmtpSender>,
}

#[async_trait::async_trait]
impl Delivery for StandardDelivery {
    async fn deliver(&self, msg: OutgoingMessage, now_millis: i64) {
        tracing::info!(
            pool = %msg.pool_id, user = %msg.username, channel = msg.channel.as_str(),
            destination = %msg.destination, purpose = msg.purpose, "message delivered to inbox"
        );
        if let (Some(smtp), DeliveryChannel::Email) = (&self.smtp, msg.channel) {
            let smtp = smtp.clone();
            let m = msg.clone();
            tokio::spawn(async move { smtp.send(&m).await });
        }
        self.inbox.push(msg, now_millis);
    }
}

/// Sends e-mail through an SMTP relay given as `smtp://host:port`.
#[derive(Clone)]
pub struct SmtpSender {
    transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor>,
    from: String,
}

impl SmtpSender {
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let rest = url.strip_prefix("smtp://").ok_or_else(|| format!("bad SMTP URL {url}: expected smtp://host[:port]"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| format!("bad SMTP port in {url}"))?),
            None => (rest, 25),
        };
        if host.is_empty() {
            return Err(format!("bad SMTP URL {url}: no host"));
        }
        // Plain SMTP to a local relay (MailHog, Mailpit, a sidecar); the relay handles onward TLS.
        let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous(host).port(port).build();
        Ok(SmtpSender { transport, from: from.to_string() })
    }

    async fn send(&self, msg: &OutgoingMessage) {
        use lettre::AsyncTransport;
        let built = lettre::Message::builder()
            .from(match self.from.parse() {
                Ok(f) => f,
                Err(e) => return tracing::warn!(error = %e, "bad SMTP from address"),
            })
            .to(match msg.destination.parse() {
                Ok(t) => t,
                Err(e) => return tracing::warn!(error = %e, to = %msg.destination, "bad e-mail address"),
            })
            .subject(msg.subject.clone().unwrap_or_default())
            .header(lettre::message::header::ContentType::TEXT_HTML)
            .body(msg.message.clone());
        match built {
            Ok(m) => {
                if let Err(e) = self.transport.send(m).await {
                    tracing::warn!(error = %e, to = %msg.destination, "SMTP delivery failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not build e-mail"),
        }
    }
}
