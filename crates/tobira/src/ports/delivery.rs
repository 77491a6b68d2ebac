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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    /// A minimal SMTP sink: accepts one message and returns what DATA carried.
    async fn smtp_sink(listener: tokio::net::TcpListener) -> (String, Vec<String>) {
        let (sock, _) = listener.accept().await.expect("accept");
        let (r, mut w) = sock.into_split();
        let mut lines = BufReader::new(r).lines();
        w.write_all(b"220 sink ESMTP\r\n").await.unwrap();
        let mut envelope = vec![];
        let mut data = String::new();
        while let Ok(Some(line)) = lines.next_line().await {
            let upper = line.to_uppercase();
            if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                w.write_all(b"250 sink\r\n").await.unwrap();
            } else if upper.starts_with("MAIL FROM") || upper.starts_with("RCPT TO") {
                envelope.push(line.clone());
                w.write_all(b"250 OK\r\n").await.unwrap();
            } else if upper == "DATA" {
                w.write_all(b"354 go ahead\r\n").await.unwrap();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push('\n');
                }
                w.write_all(b"250 queued\r\n").await.unwrap();
            } else if upper == "QUIT" {
                w.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                w.write_all(b"250 OK\r\n").await.unwrap();
            }
        }
        (data, envelope)
    }

    #[tokio::test]
    async fn smtp_delivery_sends_the_rendered_message_and_records_it() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let sink = tokio::spawn(smtp_sink(listener));
        let inbox = std::sync::Arc::new(Inbox::new(10));
        let d = StandardDelivery { inbox: inbox.clone(), smtp: Some(SmtpSender::new(&format!("smtp://127.0.0.1:{port}"), "no-reply@example.com").unwrap()) };
        d.deliver(
            OutgoingMessage {
                pool_id: "us-east-1_abc".into(),
                username: "alice".into(),
                channel: DeliveryChannel::Email,
                destination: "alice@example.com".into(),
                subject: Some("Your verification code".into()),
                message: "Your verification code is 123456. ".into(),
                code: Some("123456".into()),
                purpose: "SignUp",
            },
            0,
        )
        .await;
        let (data, envelope) = tokio::time::timeout(std::time::Duration::from_secs(10), sink).await.expect("SMTP delivery in time").unwrap();
        assert!(data.contains("Your verification code is 123456."), "{data}");
        assert!(data.contains("Subject: Your verification code"), "{data}");
        assert!(envelope.iter().any(|l| l.contains("alice@example.com")), "{envelope:?}");
        let listed = inbox.list(Some("us-east-1_abc"), Some("alice"));
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].code.as_deref(), Some("123456"));
        assert!(inbox.list(Some("other"), None).is_empty());
    }

    #[test]
    fn bad_smtp_urls_are_refused() {
        assert!(SmtpSender::new("http://x", "a@b.c").is_err());
        assert!(SmtpSender::new("smtp://:25", "a@b.c").is_err());
        assert!(SmtpSender::new("smtp://host:notaport", "a@b.c").is_err());
    }

    #[test]
    fn inbox_is_bounded() {
        let inbox = Inbox::new(2);
        for i in 0..3 {
            inbox.push(
                OutgoingMessage {
                    pool_id: "p".into(),
                    username: format!("u{i}"),
                    channel: DeliveryChannel::Sms,
                    destination: "+15555550100".into(),
                    subject: None,
                    message: String::new(),
                    code: None,
                    purpose: "SignUp",
                },
                i,
            );
        }
        let all = inbox.list(None, None);
        assert_eq!(all.iter().map(|m| m.username.as_str()).collect::<Vec<_>>(), ["u1", "u2"]);
    }
}
