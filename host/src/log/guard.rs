//! Containment of the storage engine's panics.
//!
//! A damaged log file can make redb panic while it reads a page (an index
//! out of bounds in a corrupted node, say). Every call into redb that may
//! read the file goes through [`contain`] (or [`catch`]), which turns such
//! a panic into [`LogError::Damaged`]: the caller gets an error naming the
//! log as damaged, never a crash. While a call is contained the panic's
//! message is kept off stderr (the error carries it instead); panics
//! elsewhere in the process are reported by the previous panic hook as
//! before.

use super::LogError;
use std::cell::{Cell, RefCell};
use std::panic::AssertUnwindSafe;
use std::sync::Once;

thread_local! {
    /// How many contained calls this thread is inside.
    static DEPTH: Cell<u32> = const { Cell::new(0) };
    /// Where the last contained panic happened.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Install (once) a panic hook that is silent inside contained calls and
/// defers to the previous hook everywhere else.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if DEPTH.with(Cell::get) > 0 {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|slot| *slot.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// Run `f`; a panic inside it becomes `Err` with its message (and where it
/// happened).
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install_hook();
    DEPTH.with(|d| d.set(d.get().saturating_add(1)));
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    result.map_err(|payload| {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        match LOCATION.with(|slot| slot.borrow_mut().take()) {
            Some(at) => format!("{message}, at {at}"),
            None => message,
        }
    })
}

/// Run `f`, which reads or writes the log through redb; a panic inside it
/// becomes [`LogError::Damaged`], saying what was being done.
pub fn contain<T>(doing: &str, f: impl FnOnce() -> Result<T, LogError>) -> Result<T, LogError> {
    catch(f).unwrap_or_else(|why| Err(damaged(doing, &why)))
}

/// The error for a storage-engine failure while `doing` something.
pub fn damaged(doing: &str, why: &str) -> LogError {
    LogError::Damaged(format!(
        "the storage engine failed while {doing} (internal error: {why})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::panic, reason = "the panic is what is contained")]
    fn a_panic_becomes_a_damaged_error_and_the_thread_goes_on() {
        let result: Result<(), LogError> = contain("reading the log", || panic!("bad node"));
        match result {
            Err(LogError::Damaged(text)) => {
                assert!(text.contains("reading the log"), "{text}");
                assert!(text.contains("bad node"), "{text}");
                assert!(text.contains("guard.rs"), "{text}");
            }
            other => panic!("not contained: {other:?}"),
        }
        assert_eq!(DEPTH.with(Cell::get), 0);
        assert_eq!(contain("x", || Ok(7)), Ok(7));
        assert_eq!(
            contain::<()>("x", || Err(LogError::Encode("e".to_owned()))),
            Err(LogError::Encode("e".to_owned()))
        );
    }
}
