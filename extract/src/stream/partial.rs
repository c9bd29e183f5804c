//! How a value of each standard type fills in while its JSON streams in: a string grows as its text
//! arrives, a list grows one element at a time (the last one possibly partial), an optional value is
//! absent until it starts, and a number, a boolean or an enum (an "atomic" value) appears only once
//! its JSON is complete, parsed by serde from its text.
//!
//! A partial value lives in an `Option` slot: `None` until the first event for it arrives.

use std::fmt;

use serde::de::DeserializeOwned;

use super::json::{Event, Seg};
use crate::Enforceable;

/// Fills an atomic value: it appears, parsed by serde, when its JSON text is complete.
///
/// This is what a hand-written [`Enforceable`] impl for a type whose partial form is the type itself
/// calls from its `feed`.
#[inline(never)]
pub fn feed_atomic<T: DeserializeOwned>(slot: &mut Option<T>, at: &[Seg], event: &Event<'_>) {
    feed_parsed(slot, at, event, |raw| serde_json::from_str(raw).ok())
}

/// [`feed_atomic`] with the parser given: a derived enum's `feed` passes the function its
/// `Deserialize` check already is (`__private::require_deserialize`), so its impl needs no bound.
#[doc(hidden)]
#[inline(never)]
pub fn feed_parsed<T>(
    slot: &mut Option<T>,
    at: &[Seg],
    event: &Event<'_>,
    parse: fn(&str) -> Option<T>,
) {
    if let ([], Event::Close(raw)) = (at, event) {
        if let Some(value) = parse(raw) {
            *slot = Some(value);
        }
    }
}

#[diagnostic::do_not_recommend]
impl Enforceable for String {
    type Partial = String;
    fn fmt_partial(partial: &String, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(partial, f)
    }
    #[inline(never)]
    fn feed(slot: &mut Option<String>, at: &[Seg], event: &Event<'_>) {
        if !at.is_empty() {
            return;
        }
        match event {
            Event::Text(chunk) => slot.get_or_insert_with(String::new).push_str(chunk),
            // An empty string sends no text; any other closed value is not a string.
            Event::Close(raw) if raw.starts_with('"') => {
                slot.get_or_insert_with(String::new);
            }
            _ => {}
        }
    }
}

macro_rules! atomic {
    ($($ty:ty),* $(,)?) => {$(
        #[diagnostic::do_not_recommend]
        impl Enforceable for $ty {
            type Partial = $ty;
            fn fmt_partial(partial: &$ty, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(partial, f)
            }
            #[inline(never)]
            fn feed(slot: &mut Option<$ty>, at: &[Seg], event: &Event<'_>) {
                feed_atomic(slot, at, event)
            }
        }
    )*};
}

atomic!(
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    std::num::NonZeroU8,
    std::num::NonZeroU16,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroI32,
    std::num::NonZeroI64,
    std::path::PathBuf,
    std::net::IpAddr,
    std::net::Ipv4Addr,
    std::net::Ipv6Addr,
);

/// `null` leaves an optional value absent; anything else fills it as `T` would.
impl<T: Enforceable> Enforceable for Option<T> {
    type Partial = T::Partial;
    fn fmt_partial(partial: &T::Partial, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt_partial(partial, f)
    }
    #[inline(never)]
    fn feed(slot: &mut Option<T::Partial>, at: &[Seg], event: &Event<'_>) {
        if let ([], Event::Close("null")) = (at, event) {
            return;
        }
        T::feed(slot, at, event)
    }
}

/// Feeds the elements of a JSON array into a list of partial elements, one slot per element in the
/// order they arrive: a slot is `None` while its element has not produced anything yet (a number
/// still being read) or when it was `null`, so positions always match the JSON's.
fn feed_list<T: Enforceable>(
    slot: &mut Option<Vec<Option<T::Partial>>>,
    at: &[Seg],
    event: &Event<'_>,
) {
    match at.split_first() {
        None => {
            if matches!(event, Event::Open | Event::Close(_)) {
                slot.get_or_insert_with(Vec::new);
            }
        }
        Some((Seg::Index(i), rest)) => {
            let list = slot.get_or_insert_with(Vec::new);
            // JSON arrives in order: an index is either the last slot or the next one.
            while list.len() <= *i {
                list.push(None);
            }
            T::feed(&mut list[*i], rest, event);
        }
        Some((Seg::Key(_), _)) => {}
    }
}

/// A list of partial elements, printed as `Debug` prints a `Vec` of `Option`s.
fn fmt_list<T: Enforceable>(
    list: &[Option<T::Partial>],
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    f.debug_list()
        .entries(list.iter().map(|slot| DebugWith(slot, T::fmt_partial)))
        .finish()
}

impl<T: Enforceable> Enforceable for Vec<T> {
    type Partial = Vec<Option<T::Partial>>;
    fn fmt_partial(partial: &Self::Partial, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list::<T>(partial, f)
    }
    #[inline(never)]
    fn feed(slot: &mut Option<Self::Partial>, at: &[Seg], event: &Event<'_>) {
        feed_list::<T>(slot, at, event)
    }
}
impl<T: Enforceable> Enforceable for std::collections::VecDeque<T> {
    type Partial = Vec<Option<T::Partial>>;
    fn fmt_partial(partial: &Self::Partial, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list::<T>(partial, f)
    }
    #[inline(never)]
    fn feed(slot: &mut Option<Self::Partial>, at: &[Seg], event: &Event<'_>) {
        feed_list::<T>(slot, at, event)
    }
}
impl<T: Enforceable, const N: usize> Enforceable for [T; N] {
    type Partial = Vec<Option<T::Partial>>;
    fn fmt_partial(partial: &Self::Partial, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list::<T>(partial, f)
    }
    #[inline(never)]
    fn feed(slot: &mut Option<Self::Partial>, at: &[Seg], event: &Event<'_>) {
        feed_list::<T>(slot, at, event)
    }
}
impl<T: Enforceable + Ord> Enforceable for std::collections::BTreeSet<T> {
    type Partial = Vec<Option<T::Partial>>;
    fn fmt_partial(partial: &Self::Partial, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list::<T>(partial, f)
    }
    #[inline(never)]
    fn feed(slot: &mut Option<Self::Partial>, at: &[Seg], event: &Event<'_>) {
        feed_list::<T>(slot, at, event)
    }
}
impl<T: Enforceable, S> Enforceable for std::collections::HashSet<T, S> {
    type Partial = Vec<Option<T::Partial>>;
    fn fmt_partial(partial: &Self::Partial, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt_list::<T>(partial, f)
    }
    #[inline(never)]
    fn feed(slot: &mut Option<Self::Partial>, at: &[Seg], event: &Event<'_>) {
        feed_list::<T>(slot, at, event)
    }
}
/// A boxed value's partial form stays boxed, so a recursive type (`reply: Option<Box<Comment>>`) has
/// a partial form of finite size. It moves out of its box and back for each event: a shallow move,
/// so the cost per event stays constant.
fn feed_boxed<T: Enforceable + ?Sized>(
    slot: &mut Option<Box<T::Partial>>,
    at: &[Seg],
    event: &Event<'_>,
) {
    let mut inner = slot.take().map(|boxed| *boxed);
    T::feed(&mut inner, at, event);
    *slot = inner.map(Box::new);
}

impl<T: Enforceable> Enforceable for Box<T> {
    type Partial = Box<T::Partial>;
    fn fmt_partial(partial: &Self::Partial, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt_partial(partial, f)
    }
    #[inline(never)]
    fn feed(slot: &mut Option<Self::Partial>, at: &[Seg], event: &Event<'_>) {
        feed_boxed::<T>(slot, at, event)
    }
}
/// Boxed as well: the partial form is owned by the stream until it is complete, so nothing shares it.
impl<T: Enforceable> Enforceable for std::sync::Arc<T> {
    type Partial = Box<T::Partial>;
    fn fmt_partial(partial: &Self::Partial, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt_partial(partial, f)
    }
    #[inline(never)]
    fn feed(slot: &mut Option<Self::Partial>, at: &[Seg], event: &Event<'_>) {
        feed_boxed::<T>(slot, at, event)
    }
}

/// A partial struct's field (or a list's element), `Option<T::Partial>`, printed as `Debug`
/// prints an `Option`, with the value through `T`'s [`Enforceable::fmt_partial`]: so a partial
/// struct's `Debug` needs no bound on its fields, which rustc would prove again wherever the
/// struct is printed. The derive names the function as `<FieldTy as Enforceable>::fmt_partial`,
/// the same path as the field's `feed`, so an unenforceable field is one error, not one per
/// mention.
pub struct DebugWith<'a, P>(
    pub &'a Option<P>,
    pub fn(&P, &mut core::fmt::Formatter<'_>) -> core::fmt::Result,
);

impl<P> core::fmt::Debug for DebugWith<'_, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        struct Value<'a, P>(
            &'a P,
            fn(&P, &mut core::fmt::Formatter<'_>) -> core::fmt::Result,
        );
        impl<P> core::fmt::Debug for Value<'_, P> {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                (self.1)(self.0, f)
            }
        }
        match self.0 {
            None => f.write_str("None"),
            Some(partial) => f
                .debug_tuple("Some")
                .field(&Value(partial, self.1))
                .finish(),
        }
    }
}
