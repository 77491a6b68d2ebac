/// Randomness: ids, codes, salts, secrets and SRP ephemerals all come from here.
pub trait Random: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);

    fn bytes<const N: usize>(&self) -> [u8; N]
    where
        Self: Sized,
    {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }
}

/// The operating system's CSPRNG through aws-lc.
#[derive(Debug, Default)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&self, buf: &mut [u8]) {
        aws_lc_rs::rand::fill(buf).expect("system randomness unavailable");
    }
}

/// Helpers over any `Random` (usable through `dyn Random`).
pub fn random_bytes(r: &dyn Random, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    r.fill(&mut v);
    v
}

/// `n` characters drawn uniformly from `alphabet` (rejection sampling, no modulo bias).
pub fn random_string(r: &dyn Random, alphabet: &[u8], n: usize) -> String {
    assert!(!alphabet.is_empty() && alphabet.len() <= 256);
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        r.fill(&mut buf);
        for &b in buf.iter() {
            if (b as usize) < limit {
                out.push(alphabet[b as usize % alphabet.len()] as char);
                if out.len() == n {
                    break;
                }
            }
        }
    }
    out
}

/// A random UUID v4 in lowercase hyphenated form.
pub fn uuid_v4(r: &dyn Random) -> String {
    let mut b = [0u8; 16];
    r.fill(&mut b);
    uuid::Builder::from_random_bytes(b).into_uuid().to_string()
}

/// A numeric code of `digits` digits (leading zeros allowed).
pub fn numeric_code(r: &dyn Random, digits: usize) -> String {
    random_string(r, b"0123456789", digits)
}
