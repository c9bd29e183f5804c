//! Text shown to people and models, bounded: a server or a model may send megabytes where a line was
//! expected, and what is quoted back (in an error, a log, a reask) keeps only its first bytes.

use std::fmt;

/// `text` cut to at most `max` bytes (at a character boundary), saying how many bytes were cut.
pub(crate) fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return text.into();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let kept = text.get(..cut).unwrap_or_default();
    format!("{kept}… [cut {} bytes]", text.len() - cut).into()
}

/// What `shown` displays, cut to at most `max` bytes as [`clip`] cuts, without ever holding more
/// than that: a validation error formats the offending value, however large, on demand.
pub(crate) fn bounded(shown: &dyn fmt::Display, max: usize) -> String {
    let mut out = Bounded::new(max);
    let _ = fmt::write(&mut out, format_args!("{shown}"));
    out.finish()
}

/// A writer that keeps the first `max` bytes and counts the rest.
pub(crate) struct Bounded {
    kept: Vec<u8>,
    max: usize,
    cut: usize,
}

impl Bounded {
    pub(crate) fn new(max: usize) -> Self {
        Bounded {
            kept: Vec::new(),
            max,
            cut: 0,
        }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let room = self.max.saturating_sub(self.kept.len()).min(bytes.len());
        self.kept
            .extend_from_slice(bytes.get(..room).unwrap_or_default());
        self.cut += bytes.len() - room;
    }

    /// What was kept, to its last whole character, and how many bytes were cut, if any.
    pub(crate) fn finish(mut self) -> String {
        let whole = match std::str::from_utf8(&self.kept) {
            Ok(_) => self.kept.len(),
            Err(err) => err.valid_up_to(),
        };
        self.cut += self.kept.len() - whole;
        self.kept.truncate(whole);
        let mut text = String::from_utf8(self.kept).unwrap_or_default();
        if self.cut > 0 {
            text.push_str(&format!("… [cut {} bytes]", self.cut));
        }
        text
    }
}

impl fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The start of a body, decoded lossily, for error messages.
pub(crate) fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 2048;
    let cut = &body[..body.len().min(MAX)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    if body.len() > MAX {
        text.push('…');
    }
    text
}
